import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/** The current time, refreshed every `intervalMs` (a countdown's clock). */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

export interface Action<A extends unknown[], T> {
  /** Runs the operation; resolves to its result, or undefined when it failed (see `error`). */
  readonly run: (...args: A) => Promise<T | undefined>;
  readonly pending: boolean;
  readonly error: unknown;
  readonly result: T | undefined;
  readonly reset: () => void;
}

/**
 * A long operation's state for a form: pending while it runs (show `<Progress>`), the error it
 * threw (show `<ErrorBox>`), or its result. A second run while one is pending is ignored, so a
 * double click sends one transaction.
 */
export function useAction<A extends unknown[], T>(
  operation: (...args: A) => Promise<T>,
): Action<A, T> {
  const [state, setState] = useState<{ pending: boolean; error: unknown; result: T | undefined }>({
    pending: false,
    error: undefined,
    result: undefined,
  });
  const running = useRef(false);
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  const latest = useRef(operation);
  latest.current = operation;
  const run = useCallback(async (...args: A): Promise<T | undefined> => {
    if (running.current) return undefined;
    running.current = true;
    setState({ pending: true, error: undefined, result: undefined });
    try {
      const result = await latest.current(...args);
      if (mounted.current) setState({ pending: false, error: undefined, result });
      return result;
    } catch (error) {
      if (mounted.current) setState({ pending: false, error, result: undefined });
      return undefined;
    } finally {
      running.current = false;
    }
  }, []);
  const reset = useCallback(
    () => setState({ pending: false, error: undefined, result: undefined }),
    [],
  );
  return { ...state, run, reset };
}

export interface AddForm<E> {
  readonly draft: string;
  readonly setDraft: (draft: string) => void;
  /** What the last add failed with, until the next one succeeds. */
  readonly error: E | undefined;
  readonly onSubmit: (event: Event) => void;
}

/**
 * A one-line "add to the list" form: submitting adds the draft and clears it, or keeps it and
 * shows why it was refused (`explain` turns what `add` threw into what the form shows).
 */
export function useAddForm<E>(
  add: (draft: string) => void,
  explain: (failure: unknown) => E,
): AddForm<E> {
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<E | undefined>(undefined);
  const onSubmit = (event: Event) => {
    event.preventDefault();
    try {
      add(draft);
      setDraft('');
      setError(undefined);
    } catch (failure) {
      setError(explain(failure));
    }
  };
  return { draft, setDraft, error, onSubmit };
}
