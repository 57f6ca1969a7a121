/**
 * Which nodes the dashboard watches: the node serving the app (the session's), the other nodes
 * its configuration lists (GET /app/config.json, the same list the page's CSP connect-src
 * allows), and nodes the operator added by hand (kept in localStorage). A node the CSP does not
 * allow is blocked by the browser itself; the dashboard notices the violation and says so.
 */

import { useCallback, useEffect, useState } from 'preact/hooks';
import { nodeOrigin } from '../session.js';

export type NodeSource = 'app' | 'configured' | 'added';

export interface WatchedNode {
  /** The API's origin, e.g. http://127.0.0.1:7702. */
  readonly url: string;
  readonly source: NodeSource;
}

const ADDED_KEY = 'medchain.operator.nodes';

function loadAdded(): string[] {
  try {
    const stored: unknown = JSON.parse(localStorage.getItem(ADDED_KEY) ?? '[]');
    return Array.isArray(stored) ? stored.filter((url) => typeof url === 'string') : [];
  } catch {
    return [];
  }
}

/** The served configuration's dashboard nodes; [] when the app is not served by a node (dev). */
async function configuredNodes(): Promise<{ nodes: string[]; error?: string }> {
  try {
    const response = await fetch(new URL('config.json', document.baseURI), {
      headers: { accept: 'application/json' },
    });
    if (!response.ok) {
      return {
        nodes: [],
        error: `the node serving this page has no app configuration (HTTP ${response.status})`,
      };
    }
    const config = (await response.json()) as { dashboardNodes?: unknown };
    const nodes = Array.isArray(config.dashboardNodes)
      ? config.dashboardNodes.filter((url): url is string => typeof url === 'string')
      : [];
    return { nodes };
  } catch (error) {
    return {
      nodes: [],
      error: `the app configuration could not be read (${(error as Error).message})`,
    };
  }
}

export interface NodeList {
  readonly nodes: readonly WatchedNode[];
  /** Why the configured list is missing, if it is. */
  readonly configError: string | undefined;
  /** Origins the page's Content-Security-Policy blocked. */
  readonly blocked: ReadonlySet<string>;
  readonly add: (text: string) => string;
  readonly remove: (url: string) => void;
}

export function useNodeList(appNode: string): NodeList {
  const [configured, setConfigured] = useState<string[]>([]);
  const [configError, setConfigError] = useState<string | undefined>(undefined);
  const [added, setAdded] = useState(loadAdded);
  const [blocked, setBlocked] = useState<ReadonlySet<string>>(new Set());
  useEffect(() => {
    let live = true;
    void configuredNodes().then(({ nodes, error }) => {
      if (!live) return;
      setConfigured(nodes);
      setConfigError(error);
    });
    return () => {
      live = false;
    };
  }, []);
  useEffect(() => {
    const onViolation = (event: SecurityPolicyViolationEvent) => {
      if (!event.effectiveDirective.startsWith('connect-src')) return;
      let origin: string;
      try {
        origin = new URL(event.blockedURI).origin;
      } catch {
        return;
      }
      setBlocked((previous) => (previous.has(origin) ? previous : new Set([...previous, origin])));
    };
    document.addEventListener('securitypolicyviolation', onViolation);
    return () => document.removeEventListener('securitypolicyviolation', onViolation);
  }, []);
  const add = useCallback((text: string) => {
    const origin = nodeOrigin(text);
    const next = [...loadAdded().filter((url) => url !== origin), origin];
    localStorage.setItem(ADDED_KEY, JSON.stringify(next));
    setAdded(next);
    return origin;
  }, []);
  const remove = useCallback((url: string) => {
    const next = loadAdded().filter((other) => other !== url);
    localStorage.setItem(ADDED_KEY, JSON.stringify(next));
    setAdded(next);
  }, []);
  const nodes: WatchedNode[] = [];
  const seen = new Set<string>();
  for (const [urls, source] of [
    [[appNode], 'app'],
    [configured, 'configured'],
    [added, 'added'],
  ] as const) {
    for (const url of urls) {
      if (seen.has(url)) continue;
      seen.add(url);
      nodes.push({ url, source });
    }
  }
  return { nodes, configError, blocked, add, remove };
}
