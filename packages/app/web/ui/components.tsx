import type { ComponentChildren, InputHTMLAttributes } from 'preact';
import { useId } from 'preact/hooks';
import { explainError } from './errors.js';
import { formatDuration, formatTime } from './format.js';
import { useNow } from './hooks.js';

/** The ids a control needs to be labelled and described by its field. */
export interface ControlProps {
  readonly id: string;
  readonly 'aria-describedby': string | undefined;
  readonly 'aria-invalid': boolean | undefined;
}

interface FieldProps {
  readonly label: string;
  /** Shown under the label, read with the control. */
  readonly hint?: string | undefined;
  /** A message for this field's value (the control is marked invalid). */
  readonly error?: string | undefined;
  readonly children: (control: ControlProps) => ComponentChildren;
}

/** A label, an optional hint and error, and the control the render function draws. */
export function Field({ label, hint, error, children }: FieldProps) {
  const id = useId();
  const hintId = hint === undefined ? undefined : `${id}-hint`;
  const errorId = error === undefined ? undefined : `${id}-error`;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ') || undefined;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {hint !== undefined && (
        <p class="hint" id={hintId}>
          {hint}
        </p>
      )}
      {children({
        id,
        'aria-describedby': describedBy,
        'aria-invalid': error === undefined ? undefined : true,
      })}
      {error !== undefined && (
        <p class="field-error" id={errorId}>
          {error}
        </p>
      )}
    </div>
  );
}

/** The input attributes a text field passes through. */
interface InputAttributes {
  readonly type?: 'text' | 'password' | 'url' | 'number' | 'datetime-local' | 'search' | 'email';
  readonly required?: boolean;
  readonly disabled?: boolean;
  readonly readOnly?: boolean;
  readonly autoComplete?: string;
  readonly placeholder?: string;
  readonly min?: string;
  readonly max?: string;
  readonly step?: string;
  readonly spellcheck?: boolean;
  readonly name?: string;
  readonly pattern?: string;
  readonly maxLength?: number;
  readonly inputMode?: 'text' | 'numeric' | 'decimal' | 'url' | 'email' | 'search';
  /** Classes of the input itself (e.g. 'mono' for keys and hashes). */
  readonly class?: string;
}

interface TextFieldProps extends InputAttributes {
  readonly label: string;
  readonly value: string;
  readonly onValue: (value: string) => void;
  readonly hint?: string | undefined;
  readonly error?: string | undefined;
}

/** A labelled text-like input (text, password, datetime-local, number, url, search…). */
export function TextField({ label, value, onValue, hint, error, ...input }: TextFieldProps) {
  return (
    <Field label={label} hint={hint} error={error}>
      {(control) => {
        // Preact types each input type separately; this field passes its own `type` through.
        const attributes = {
          type: 'text',
          ...input,
          ...control,
          value,
          onInput: (event: Event) => onValue((event.currentTarget as HTMLInputElement).value),
        } as InputHTMLAttributes<HTMLInputElement>;
        return <input {...attributes} />;
      }}
    </Field>
  );
}

type KeyFieldProps = Pick<TextFieldProps, 'label' | 'value' | 'onValue' | 'hint' | 'error'>;

/** A required field for a key or an id: monospaced, never autocompleted nor spell-checked. */
export function KeyField(props: KeyFieldProps) {
  return <TextField {...props} class="mono" autoComplete="off" spellcheck={false} required />;
}

/** A table's header row: one column header per label. */
export function TableHead({ columns }: { columns: readonly ComponentChildren[] }) {
  return (
    <thead>
      <tr>
        {columns.map((column, index) => (
          // A table's columns are fixed, so their position is their identity.
          <th key={index} scope="col">
            {column}
          </th>
        ))}
      </tr>
    </thead>
  );
}

interface SelectFieldProps<V extends string> {
  readonly label: string;
  readonly value: V;
  readonly onValue: (value: V) => void;
  readonly options: readonly { readonly value: V; readonly label: string }[];
  readonly hint?: string | undefined;
  readonly error?: string | undefined;
  readonly disabled?: boolean;
}

export function SelectField<V extends string>(props: SelectFieldProps<V>) {
  const { label, value, onValue, options, hint, error, disabled } = props;
  return (
    <Field label={label} hint={hint} error={error}>
      {(control) => (
        <select
          {...control}
          value={value}
          disabled={disabled}
          onChange={(event) => onValue(event.currentTarget.value as V)}
        >
          {options.map((option) => (
            <option key={option.value} value={option.value}>
              {option.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

interface CheckboxFieldProps {
  readonly label: string;
  readonly checked: boolean;
  readonly onChecked: (checked: boolean) => void;
  readonly hint?: string | undefined;
  readonly disabled?: boolean;
}

/** A checkbox with its label after it (the usual reading order for a checkbox). */
export function CheckboxField({ label, checked, onChecked, hint, disabled }: CheckboxFieldProps) {
  const id = useId();
  return (
    <div class="field checkbox">
      <input
        type="checkbox"
        id={id}
        checked={checked}
        disabled={disabled}
        aria-describedby={hint === undefined ? undefined : `${id}-hint`}
        onChange={(event) => onChecked(event.currentTarget.checked)}
      />
      <label for={id}>{label}</label>
      {hint !== undefined && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
    </div>
  );
}

/**
 * An error as the user needs it: its code, what happened and what to do. Never a stack trace.
 * Renders nothing when `error` is undefined, so it can sit in a form unconditionally.
 */
export function ErrorBox({ error, onDismiss }: { error: unknown; onDismiss?: () => void }) {
  if (error === undefined || error === null) return null;
  const { code, what, todo } = explainError(error);
  return (
    <div class="error-box" role="alert">
      <p class="error-title">
        <strong>Error</strong> <code>{code}</code>
      </p>
      <p>
        <span class="label">What happened:</span> {what}
      </p>
      <p>
        <span class="label">What to do:</span> {todo}
      </p>
      {onDismiss !== undefined && (
        <button type="button" class="secondary" onClick={onDismiss}>
          Dismiss
        </button>
      )}
    </div>
  );
}

/** A long operation under way (waiting for a commit, fetching): announced to screen readers. */
export function Progress({ label }: { label: string }) {
  return (
    <div class="progress" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" />
      <span>{label}</span>
    </div>
  );
}

/** A success message, announced politely. */
export function Notice({ children }: { children: ComponentChildren }) {
  return (
    <p class="notice" role="status">
      {children}
    </p>
  );
}

/**
 * Time left until `until` (ms since the epoch), ticking every second: "59 min 12 s left", then
 * "expired". The absolute time is in the element's title and datetime.
 */
export function Countdown({ until }: { until: number }) {
  const now = useNow();
  const left = until - now;
  const soon = left > 0 && left < 10 * 60_000;
  return (
    <time
      class={left <= 0 ? 'countdown expired' : soon ? 'countdown soon' : 'countdown'}
      dateTime={new Date(until).toISOString()}
      title={formatTime(until)}
    >
      {left <= 0 ? 'expired' : `${formatDuration(left)} left`}
    </time>
  );
}

/** The screen a role shows while no key is unlocked for it. */
export function NeedsKey({ role }: { role: string }) {
  return (
    <div class="panel">
      <p>
        No {role} key is unlocked. <a href="#/keys">Go to Keys</a> to create, import or unlock one
        with the {role} role.
      </p>
    </div>
  );
}

/** A titled section of a screen; `level` keeps the heading outline right. */
export function Panel({
  title,
  level = 2,
  children,
  id,
}: {
  title: string;
  level?: 2 | 3;
  children: ComponentChildren;
  id?: string;
}) {
  const Heading = level === 2 ? 'h2' : 'h3';
  const headingId = useId();
  return (
    <section class="panel" aria-labelledby={headingId} id={id}>
      <Heading id={headingId}>{title}</Heading>
      {children}
    </section>
  );
}
