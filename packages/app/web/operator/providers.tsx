/**
 * The hospital's clinicians, managed by one of its admin keys: register a key with a role
 * (provider.register), suspend one (provider.suspend), each awaited until committed. The list is
 * GET /v1/organizations/:id with its providers, which the organization's admins may read.
 */
import {
  ClientError,
  fromHex,
  type MedchainClient,
  type OrganizationJson,
  type ProviderJson,
  type SentTx,
  toDidKey,
  toHex,
} from '@medchain/client';
import { PROVIDER_ROLES, type ProviderRole } from '@medchain/ledger';
import { useEffect, useState } from 'preact/hooks';
import type { UnlockedKey } from '../session.js';
import {
  ErrorBox,
  formatTime,
  KeyField,
  Notice,
  Panel,
  Progress,
  parseKeyInput,
  SelectField,
  shortKey,
  TableHead,
  useAction,
} from '../ui/index.js';
import { ScrollTable } from './table.js';

const ROLE_LABELS: Record<ProviderRole, string> = {
  clinician: 'Clinician',
  nurse: 'Nurse',
  emergency: 'Emergency physician (may use break-glass)',
  researcher: 'Researcher (research purpose only)',
  admin: 'Administrative staff',
};

/** Receipt and admission codes of provider.register / provider.suspend, in words. */
const PROVIDER_ERRORS: Record<string, { what: string; todo: string }> = {
  PROVIDER_EXISTS: {
    what: 'This key is already registered as a provider (here or at another hospital).',
    todo: 'Check the key; a suspended clinician needs a new key.',
  },
  KEY_IN_USE: {
    what: 'This key is a hospital admin or validator key, which cannot also be a provider.',
    todo: 'Ask the clinician for their own key (Keys tab, role clinician).',
  },
  NOT_ORG_ADMIN: {
    what: 'The unlocked operator key is not an admin key of a member hospital.',
    todo: 'Unlock your hospital’s admin key on the Keys tab (role operator).',
  },
  PROVIDER_NOT_FOUND: {
    what: 'Your hospital has not registered this key.',
    todo: 'Reload the list; only your own hospital’s clinicians can be suspended.',
  },
  PROVIDER_SUSPENDED: { what: 'This clinician is already suspended.', todo: 'Reload the list.' },
};

function ProviderError({ error }: { error: unknown }) {
  const known = error instanceof ClientError ? PROVIDER_ERRORS[error.code] : undefined;
  if (known === undefined || !(error instanceof ClientError)) return <ErrorBox error={error} />;
  return (
    <div class="error-box" role="alert">
      <p class="error-title">
        <strong>Error</strong> <code>{error.code}</code>
      </p>
      <p>
        <span class="label">What happened:</span> {known.what}
      </p>
      <p>
        <span class="label">What to do:</span> {known.todo}
      </p>
    </div>
  );
}

const committed = (tx: SentTx) => (tx.height === undefined ? '' : ` at height ${tx.height}`);

function RegisterForm({ client, onDone }: { client: MedchainClient; onDone: () => void }) {
  const [key, setKey] = useState('');
  const [role, setRole] = useState<ProviderRole>('clinician');
  const [invalid, setInvalid] = useState<string | undefined>(undefined);
  const register = useAction(async (provider: Uint8Array, as: ProviderRole) => {
    const tx = await client.sendTransaction('provider.register', { provider, role: as });
    onDone();
    return `Registered ${shortKey(toHex(provider))} as ${as}${committed(tx)}.`;
  });
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        const provider = parseKeyInput(key);
        setInvalid(provider.ok ? undefined : provider.error);
        if (provider.ok) void register.run(provider.value, role);
      }}
    >
      <h3>Register a clinician</h3>
      <div class="inline-form">
        <KeyField
          label="Clinician’s key"
          value={key}
          onValue={setKey}
          error={invalid}
          hint="Their public key (did:key or hex), shown on their Keys tab. Never their keystore."
        />
        <SelectField
          label="Role"
          value={role}
          onValue={setRole}
          options={PROVIDER_ROLES.map((r) => ({ value: r, label: ROLE_LABELS[r] }))}
        />
      </div>
      <button type="submit" disabled={register.pending}>
        Register clinician
      </button>
      {register.pending && (
        <Progress label="Registering: the transaction is submitted and the app waits for it to be committed…" />
      )}
      <ProviderError error={register.error} />
      {register.result !== undefined && <Notice>{register.result}</Notice>}
    </form>
  );
}

function ProviderRow({
  provider,
  client,
  onDone,
}: {
  provider: ProviderJson;
  client: MedchainClient;
  onDone: () => void;
}) {
  const [confirming, setConfirming] = useState(false);
  const suspend = useAction(async () => {
    const tx = await client.sendTransaction('provider.suspend', {
      provider: fromHex(provider.key),
    });
    setConfirming(false);
    onDone();
    return `Suspended${committed(tx)}.`;
  });
  const did = toDidKey(fromHex(provider.key));
  const short = shortKey(provider.key);
  return (
    <tr>
      <td>
        <span class="mono" title={did}>
          {short}
        </span>
      </td>
      <td>{provider.role}</td>
      <td>
        <span class={provider.status === 'active' ? 'badge ok' : 'badge error'}>
          {provider.status}
        </span>
        {provider.suspendedAt !== null && (
          <span class="hint"> since {formatTime(provider.suspendedAt)}</span>
        )}
      </td>
      <td>{formatTime(provider.registeredAt)}</td>
      <td>
        {provider.status === 'active' && !confirming && (
          <button type="button" class="secondary" onClick={() => setConfirming(true)}>
            Suspend {short}
          </button>
        )}
        {confirming && (
          <fieldset class="confirm">
            <legend>Suspend {short}?</legend>
            <p>Every request signed by this key is then denied.</p>
            <div class="actions">
              <button
                type="button"
                class="danger"
                disabled={suspend.pending}
                onClick={() => void suspend.run()}
              >
                Confirm suspension of {short}
              </button>
              <button type="button" class="secondary" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </div>
          </fieldset>
        )}
        {suspend.pending && <Progress label="Suspending: waiting for the commit…" />}
        <ProviderError error={suspend.error} />
        {suspend.result !== undefined && <Notice>{suspend.result}</Notice>}
      </td>
    </tr>
  );
}

/** All providers of an organization (the route pages them). */
async function providersOf(client: MedchainClient, org: string): Promise<ProviderJson[]> {
  const providers: ProviderJson[] = [];
  for (let offset: number | null = 0; offset !== null; ) {
    const answer = await client.organization(org, { offset, limit: 200 });
    providers.push(...answer.providers.items);
    offset = answer.providers.nextOffset;
  }
  return providers;
}

export function ProvidersPanel({
  client,
  unlocked,
}: {
  client: MedchainClient;
  unlocked: UnlockedKey;
}) {
  const me = unlocked.entry.publicKey;
  const [refresh, setRefresh] = useState(0);
  const org = useAction(async (): Promise<OrganizationJson | undefined> => {
    const { items } = await client.organizations();
    return items.find((o) => o.status === 'member' && o.adminKeys.includes(me));
  });
  const providers = useAction((id: string) => providersOf(client, id));
  useEffect(() => {
    void org.run();
  }, [client, me]);
  const orgId = org.result?.id;
  useEffect(() => {
    if (orgId !== undefined) void providers.run(orgId);
  }, [orgId, refresh]);
  const reload = () => setRefresh((n) => n + 1);
  return (
    <Panel title="Clinicians of your hospital">
      {org.pending && <Progress label="Finding your hospital on the ledger…" />}
      <ErrorBox error={org.error} />
      {org.result === undefined && !org.pending && org.error === undefined && (
        <p class="warning" role="status">
          The unlocked operator key is not an admin key of any member hospital, so it cannot
          register or suspend clinicians. Unlock your hospital’s admin key on the Keys tab.
        </p>
      )}
      {orgId !== undefined && (
        <>
          <p>
            Hospital <span class="mono">{orgId}</span>
          </p>
          <RegisterForm client={client} onDone={reload} />
          <h3>Registered providers</h3>
          {providers.pending && <Progress label="Reading the hospital’s providers…" />}
          <ErrorBox error={providers.error} />
          {providers.result !== undefined &&
            (providers.result.length === 0 ? (
              <p>No provider registered yet.</p>
            ) : (
              <ScrollTable label="Providers table">
                <table>
                  <caption class="visually-hidden">Providers of your hospital</caption>
                  <TableHead columns={['Key', 'Role', 'Status', 'Registered', 'Action']} />
                  <tbody>
                    {providers.result.map((provider) => (
                      <ProviderRow
                        key={provider.key}
                        provider={provider}
                        client={client}
                        onDone={reload}
                      />
                    ))}
                  </tbody>
                </table>
              </ScrollTable>
            ))}
        </>
      )}
    </Panel>
  );
}
