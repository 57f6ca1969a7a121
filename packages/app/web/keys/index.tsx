import { ClientError, KeySigner } from '@medchain/client';
import { useEffect, useState } from 'preact/hooks';
import { lock, ROLES, type Role, unlock, useSession } from '../session.js';
import {
  downloadText,
  ErrorBox,
  Field,
  formatTime,
  Notice,
  Panel,
  Progress,
  SelectField,
  TextField,
  useAction,
} from '../ui/index.js';
import { MIN_PASSPHRASE_LENGTH, openKeystore, sealKeystore } from './keystore.js';
import { addKey, entryOf, listKeys, removeKey, type StoredKey } from './store.js';

export const ROLE_LABELS: Readonly<Record<Role, string>> = {
  patient: 'Patient',
  clinician: 'Clinician',
  operator: 'Hospital operator',
};
const ROLE_OPTIONS = ROLES.map((role) => ({ value: role, label: ROLE_LABELS[role] }));

/**
 * Keys in this browser: create one, import a keystore file (the CLI's format), export it, unlock
 * one per role for the other screens, remove. Keys are stored encrypted (keys/store.ts); the
 * passphrase is asked at every unlock and never stored.
 */
export function KeysScreen() {
  const [keys, setKeys] = useState<StoredKey[] | undefined>(undefined);
  const load = useAction(async () => {
    const rows = await listKeys();
    setKeys(rows);
    return rows;
  });
  useEffect(() => {
    void load.run();
  }, []);
  const reload = () => void load.run();
  return (
    <>
      <h1>Keys</h1>
      <p>
        Your keys are kept in this browser, encrypted under a passphrase in the same keystore format
        as the <code>medchain</code> command line. Unlock a key to act with it on the Patient,
        Clinician or Operator screens; reloading the page locks every key.
      </p>
      <Panel title="Keys in this browser">
        {load.pending && keys === undefined && <Progress label="Reading stored keys…" />}
        <ErrorBox error={load.error} />
        {keys !== undefined && keys.length === 0 && (
          <p>No keys yet: create one or import a keystore file below.</p>
        )}
        {keys !== undefined && keys.length > 0 && (
          <ul class="list" aria-label="Stored keys">
            {keys.map((key) => (
              <KeyItem key={key.id} stored={key} onRemoved={reload} />
            ))}
          </ul>
        )}
      </Panel>
      <div class="grid">
        <CreateKey onCreated={reload} />
        <ImportKey onImported={reload} />
      </div>
    </>
  );
}

function KeyItem({ stored, onRemoved }: { stored: StoredKey; onRemoved: () => void }) {
  const session = useSession();
  const unlocked = session.unlocked[stored.role]?.entry.id === stored.id;
  const [passphrase, setPassphrase] = useState('');
  const [confirmRemove, setConfirmRemove] = useState(false);
  const open = useAction(async () => {
    const signer = await openKeystore(stored.keystore, passphrase);
    unlock({ entry: entryOf(stored), signer });
    setPassphrase('');
  });
  const remove = useAction(async () => {
    if (unlocked) lock(stored.role);
    await removeKey(stored.id);
    onRemoved();
  });
  return (
    <li>
      <h3>
        {stored.name} <span class="badge neutral">{ROLE_LABELS[stored.role]}</span>{' '}
        {unlocked ? (
          <span class="badge ok">unlocked</span>
        ) : (
          <span class="badge neutral">locked</span>
        )}
      </h3>
      <dl class="facts">
        <dt>Public key</dt>
        <dd class="mono">{stored.publicKey}</dd>
        <dt>did:key</dt>
        <dd class="mono">{stored.did}</dd>
        <dt>Added</dt>
        <dd>{formatTime(stored.createdAt)}</dd>
      </dl>
      {unlocked ? (
        <div class="actions">
          <button type="button" onClick={() => lock(stored.role)}>
            Lock {stored.name}
          </button>
        </div>
      ) : (
        <form
          class="inline-form"
          onSubmit={(event) => {
            event.preventDefault();
            void open.run();
          }}
        >
          <TextField
            label={`Passphrase for ${stored.name}`}
            type="password"
            autoComplete="current-password"
            value={passphrase}
            onValue={setPassphrase}
            required
          />
          <button type="submit" disabled={open.pending}>
            Unlock {stored.name}
          </button>
        </form>
      )}
      {open.pending && <Progress label="Unlocking (deriving the key from the passphrase)…" />}
      <ErrorBox error={open.error} />
      <div class="actions">
        <button
          type="button"
          class="secondary"
          onClick={() => downloadText(keystoreFilename(stored), stored.keystore)}
        >
          Export {stored.name}
        </button>
        {confirmRemove ? (
          <>
            <button type="button" class="danger" onClick={() => void remove.run()}>
              Confirm: remove {stored.name} from this browser
            </button>
            <button type="button" class="secondary" onClick={() => setConfirmRemove(false)}>
              Keep it
            </button>
          </>
        ) : (
          <button type="button" class="secondary" onClick={() => setConfirmRemove(true)}>
            Remove {stored.name}
          </button>
        )}
      </div>
      {confirmRemove && (
        <p class="hint">
          Without an exported copy, a removed key is gone for good, and with it the access to
          everything it controls.
        </p>
      )}
      <ErrorBox error={remove.error} />
    </li>
  );
}

function keystoreFilename(key: StoredKey): string {
  const safe = key.name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'key';
  return `${safe}.keystore.json`;
}

function passphraseProblem(passphrase: string, repeat: string): string | undefined {
  if ([...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    return `At least ${MIN_PASSPHRASE_LENGTH} characters.`;
  }
  if (passphrase !== repeat) return 'The two passphrases differ.';
  return undefined;
}

function CreateKey({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('patient');
  const [passphrase, setPassphrase] = useState('');
  const [repeat, setRepeat] = useState('');
  const [touched, setTouched] = useState(false);
  const problem = passphraseProblem(passphrase, repeat);
  const create = useAction(async () => {
    // A seed, not a non-extractable WebCrypto key: the keystore format (export, the CLI) and
    // opening record envelopes both need it. Its entropy is crypto.getRandomValues.
    const signer = KeySigner.generate();
    const keystore = await sealKeystore(signer, passphrase);
    const stored = await addKey({ name, role, keystore });
    unlock({ entry: entryOf(stored), signer });
    setPassphrase('');
    setRepeat('');
    setTouched(false);
    onCreated();
    return stored;
  });
  return (
    <Panel title="Create a key">
      <form
        onSubmit={(event) => {
          event.preventDefault();
          setTouched(true);
          if (problem === undefined) void create.run();
        }}
      >
        <TextField label="Name" value={name} onValue={setName} required autoComplete="off" />
        <SelectField label="Role" value={role} onValue={setRole} options={ROLE_OPTIONS} />
        <TextField
          label="Passphrase"
          type="password"
          autoComplete="new-password"
          value={passphrase}
          onValue={setPassphrase}
          required
          hint={`At least ${MIN_PASSPHRASE_LENGTH} characters. Nobody can recover it for you.`}
        />
        <TextField
          label="Repeat the passphrase"
          type="password"
          autoComplete="new-password"
          value={repeat}
          onValue={setRepeat}
          required
          error={touched ? problem : undefined}
        />
        <button type="submit" disabled={create.pending}>
          Create key
        </button>
      </form>
      {create.pending && <Progress label="Creating and encrypting the key…" />}
      {create.result !== undefined && (
        <Notice>
          Created and unlocked “{create.result.name}”. Export it and keep the file somewhere safe:
          this browser’s storage can be cleared.
        </Notice>
      )}
      <ErrorBox error={create.error} />
    </Panel>
  );
}

/** The largest keystore file read: real ones are under 1 KiB. */
const MAX_KEYSTORE_BYTES = 64 * 1024;

function ImportKey({ onImported }: { onImported: () => void }) {
  const [file, setFile] = useState<File | undefined>(undefined);
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('patient');
  const [passphrase, setPassphrase] = useState('');
  const importing = useAction(async () => {
    if (file === undefined) throw new ClientError('INVALID_ARGUMENT', 'choose a keystore file');
    if (file.size > MAX_KEYSTORE_BYTES) {
      throw new ClientError('KEYSTORE_INVALID', `${file.name} is too large to be a keystore`);
    }
    const keystore = await file.text();
    // Opening it first: a damaged file or a wrong passphrase is told now, not at the next unlock.
    const signer = await openKeystore(keystore, passphrase);
    const stored = await addKey({
      name: name.trim() || file.name.replace(/(\.keystore)?\.json$/i, ''),
      role,
      keystore,
    });
    unlock({ entry: entryOf(stored), signer });
    setPassphrase('');
    onImported();
    return stored;
  });
  return (
    <Panel title="Import a key">
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void importing.run();
        }}
      >
        <Field
          label="Keystore file"
          hint="A .json file written by “medchain keys generate” or exported from this app."
        >
          {(control) => (
            <input
              {...control}
              type="file"
              accept=".json,application/json"
              required
              onChange={(event) => setFile(event.currentTarget.files?.[0])}
            />
          )}
        </Field>
        <TextField
          label="Name for the imported key"
          value={name}
          onValue={setName}
          autoComplete="off"
          hint="Optional: the file’s name if empty."
        />
        <SelectField
          label="Role of the imported key"
          value={role}
          onValue={setRole}
          options={ROLE_OPTIONS}
        />
        <TextField
          label="Passphrase of the keystore"
          type="password"
          autoComplete="current-password"
          value={passphrase}
          onValue={setPassphrase}
          required
        />
        <button type="submit" disabled={importing.pending}>
          Import and unlock
        </button>
      </form>
      {importing.pending && <Progress label="Checking the keystore and its passphrase…" />}
      {importing.result !== undefined && (
        <Notice>Imported and unlocked “{importing.result.name}”.</Notice>
      )}
      <ErrorBox error={importing.error} />
    </Panel>
  );
}
