import { useEffect, useRef, useState } from 'preact/hooks';
import { ClinicianScreen } from './clinician/index.js';
import { KeysScreen } from './keys/index.js';
import { OperatorScreen } from './operator/index.js';
import { PatientScreen } from './patient/index.js';
import { forgetTrustedGenesis, publicClient, setNodeUrl, useSession } from './session.js';
import { ErrorBox, Notice, Progress, TextField, useAction } from './ui/index.js';

const ROUTES = [
  { path: 'keys', label: 'Keys', Screen: KeysScreen },
  { path: 'patient', label: 'Patient', Screen: PatientScreen },
  { path: 'clinician', label: 'Clinician', Screen: ClinicianScreen },
  { path: 'operator', label: 'Operator', Screen: OperatorScreen },
] as const;
type RoutePath = (typeof ROUTES)[number]['path'];

/** `#/patient/…` → 'patient'; anything unknown → 'keys'. Screens may use the rest of the hash. */
function routeOf(hash: string): RoutePath {
  const first = hash.replace(/^#\/?/, '').split('/')[0];
  return ROUTES.find((route) => route.path === first)?.path ?? 'keys';
}

function useRoute(): RoutePath {
  const [route, setRoute] = useState(() => routeOf(window.location.hash));
  useEffect(() => {
    const changed = () => setRoute(routeOf(window.location.hash));
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}

export function App() {
  const route = useRoute();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  useEffect(() => {
    // A new screen: move focus to it, as a page load would (screen readers announce it).
    if (first.current) first.current = false;
    else main.current?.focus();
  }, [route]);
  const { Screen, label } = ROUTES.find((r) => r.path === route)!;
  useEffect(() => {
    document.title = `${label} · medchain`;
  }, [label]);
  return (
    <>
      <button type="button" class="skip-link" onClick={skipToMain}>
        Skip to content
      </button>
      <header class="app-header">
        <p class="brand">medchain</p>
        <nav aria-label="Screens">
          <ul class="tabs">
            {ROUTES.map((r) => (
              <li key={r.path}>
                <a href={`#/${r.path}`} aria-current={r.path === route ? 'page' : undefined}>
                  {r.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <NodeSettings />
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <Screen />
      </main>
    </>
  );
}

/** A button, not a link to #main: the hash is the route. */
function skipToMain() {
  document.getElementById('main')?.focus();
}

/** Which node the app talks to (default: the one serving it), and whether it answers. */
function NodeSettings() {
  const session = useSession();
  const [draft, setDraft] = useState(session.nodeUrl);
  const check = useAction(async () => {
    const status = await publicClient().status();
    return `Connected: chain ${status.chainId}, height ${status.height}.`;
  });
  const save = useAction(async (url: string) => {
    setNodeUrl(url);
    return check.run();
  });
  useEffect(() => setDraft(session.nodeUrl), [session.nodeUrl]);
  return (
    <details class="node-settings">
      <summary>
        Node: <span class="mono">{session.nodeUrl}</span>
      </summary>
      <form
        class="inline-form"
        onSubmit={(event) => {
          event.preventDefault();
          void save.run(draft);
        }}
      >
        <TextField
          label="Node address"
          type="url"
          value={draft}
          onValue={setDraft}
          required
          hint="The medchain node whose API this app uses, e.g. https://node.hospital-a.example:7701"
        />
        <button type="submit">Use this node</button>
        <button type="button" class="secondary" onClick={() => void check.run()}>
          Check connection
        </button>
        {session.trustedGenesis !== undefined && (
          <button type="button" class="secondary" onClick={forgetTrustedGenesis}>
            Forget trusted chain
          </button>
        )}
      </form>
      {check.pending && <Progress label="Asking the node…" />}
      {check.result !== undefined && <Notice>{check.result}</Notice>}
      <ErrorBox error={save.error ?? check.error} />
    </details>
  );
}
