import {
  ClientError,
  type ConsentJson,
  fromHex,
  type MedchainClient,
  type OrganizationJson,
  type ProviderJson,
} from '@medchain/client';
import type { ConsentAction, Purpose } from '@medchain/ledger';
import { useEffect, useState } from 'preact/hooks';
import {
  Countdown,
  ErrorBox,
  formatTime,
  Panel,
  Progress,
  shortKey,
  TableHead,
  useAction,
  useNow,
} from '../ui/index.js';
import { ACTION_LABELS, PURPOSE_LABELS } from './vocabulary.js';

/** Active now or later: not revoked and not past its end. */
export function isLive(consent: ConsentJson, now: number): boolean {
  return consent.status === 'active' && now < consent.validUntil;
}

/** "Clinician 8d7ed127…376c7d0a" / "Hospital 1652ac35…425ffb", for headings and names. */
export function granteeName(grantee: ConsentJson['grantee']): string {
  return `${grantee.type === 'provider' ? 'Clinician' : 'Hospital'} ${shortKey(grantee.id)}`;
}

/** The clinicians' registrations, read once per key (a registered patient may read them). */
function useProviders(client: MedchainClient, keys: readonly string[]) {
  const [found, setFound] = useState<ReadonlyMap<string, ProviderJson | null>>(new Map());
  const wanted = keys.filter((key) => !found.has(key)).join(',');
  useEffect(() => {
    if (wanted === '') return;
    let cancelled = false;
    void Promise.all(
      wanted.split(',').map(async (key) => {
        const provider = await client.provider(key).catch(() => null);
        return [key, provider] as const;
      }),
    ).then((entries) => {
      if (!cancelled) setFound((before) => new Map([...before, ...entries]));
    });
    return () => {
      cancelled = true;
    };
  }, [client, wanted]);
  return found;
}

function orgLabel(id: string, organizations: readonly OrganizationJson[]): string {
  const member = organizations.some((o) => o.id === id);
  return `hospital ${shortKey(id)}${member ? '' : ' (no longer a member)'}`;
}

/** "Who can see my data, and until when": live consents grouped by grantee, with revoke. */
export function ActiveConsents({
  client,
  consents,
  organizations,
  onChanged,
}: {
  client: MedchainClient;
  consents: readonly ConsentJson[];
  organizations: readonly OrganizationJson[];
  onChanged: () => Promise<void>;
}) {
  const now = useNow();
  const [revokeError, setRevokeError] = useState<unknown>(undefined);
  const live = consents.filter((consent) => isLive(consent, now));
  const groups = new Map<string, ConsentJson[]>();
  for (const consent of live) {
    const id = `${consent.grantee.type}:${consent.grantee.id}`;
    groups.set(id, [...(groups.get(id) ?? []), consent]);
  }
  const providers = useProviders(
    client,
    live.filter((c) => c.grantee.type === 'provider').map((c) => c.grantee.id),
  );
  return (
    <Panel title="Who can see my data, and until when">
      <ErrorBox error={revokeError} onDismiss={() => setRevokeError(undefined)} />
      {live.length === 0 ? (
        <p>Nobody: you have no active consent. Only you (and your delegates) can see your data.</p>
      ) : (
        <ul class="list" aria-label="People and hospitals who can see your data">
          {[...groups.values()].map((group) => {
            const grantee = group[0]!.grantee;
            const provider = providers.get(grantee.id);
            return (
              <li key={`${grantee.type}:${grantee.id}`}>
                <h3>{granteeName(grantee)}</h3>
                <p class="hint">
                  {grantee.type === 'organization'
                    ? 'Every active clinician of this hospital.'
                    : provider === undefined
                      ? 'Looking up this clinician…'
                      : provider === null
                        ? 'This key is not a registered clinician: nobody can use this consent.'
                        : `${provider.role} at ${orgLabel(provider.org, organizations)}${provider.status === 'suspended' ? ' (suspended: cannot use it)' : ''}.`}
                </p>
                <p class="mono hint">{grantee.id}</p>
                {group.map((consent) => (
                  <ConsentTerms
                    key={consent.id}
                    consent={consent}
                    client={client}
                    onChanged={onChanged}
                    onFailed={setRevokeError}
                  />
                ))}
              </li>
            );
          })}
        </ul>
      )}
    </Panel>
  );
}

function scopeText(consent: ConsentJson): string {
  const parts: string[] = [];
  if (consent.resourceTypes.length > 0) parts.push(`all ${consent.resourceTypes.join(', ')}`);
  if (consent.recordIds.length > 0) {
    parts.push(
      `record${consent.recordIds.length > 1 ? 's' : ''} ${consent.recordIds.map(shortKey).join(', ')}`,
    );
  }
  return parts.join('; and ');
}

const actionsText = (actions: readonly ConsentAction[]) =>
  actions.map((a) => ACTION_LABELS[a]).join(', ');
const purposesText = (purposes: readonly Purpose[]) =>
  purposes.map((p) => `${PURPOSE_LABELS[p]} (${p})`).join(', ');

function ConsentTerms({
  consent,
  client,
  onChanged,
  onFailed,
}: {
  consent: ConsentJson;
  client: MedchainClient;
  onChanged: () => Promise<void>;
  onFailed: (error: unknown) => void;
}) {
  const now = useNow();
  const revoke = useAction(async () => {
    try {
      await client.sendTransaction('consent.revoke', { consentId: fromHex(consent.id) });
    } catch (error) {
      // Told by the panel: a consent revoked elsewhere (another tab, a delegate) leaves the list
      // on the reload, and its own error box with it.
      onFailed(error);
      if (error instanceof ClientError && error.code === 'CONSENT_REVOKED') await onChanged();
      return;
    }
    onFailed(undefined);
    await onChanged();
  });
  const label = `consent ${shortKey(consent.id)}`;
  return (
    <article class="consent" aria-label={`Consent ${shortKey(consent.id)}`}>
      <dl class="facts">
        <dt>What</dt>
        <dd>{scopeText(consent)}</dd>
        <dt>May</dt>
        <dd>{actionsText(consent.actions)}</dd>
        <dt>For</dt>
        <dd>{purposesText(consent.purposes)}</dd>
        <dt>From</dt>
        <dd>
          {formatTime(consent.validFrom)}
          {consent.validFrom > now && ' (not started yet)'}
        </dd>
        <dt>Until</dt>
        <dd>
          {formatTime(consent.validUntil)} · <Countdown until={consent.validUntil} />
        </dd>
        <dt>Consent id</dt>
        <dd class="mono">{consent.id}</dd>
      </dl>
      <button
        type="button"
        class="danger"
        onClick={() => void revoke.run()}
        disabled={revoke.pending}
        aria-label={`Revoke ${label}`}
      >
        Revoke
      </button>
      {revoke.pending && <Progress label="Revoking: waiting for the block to commit…" />}
    </article>
  );
}

/** Revoked and expired consents, for the record. */
export function PastConsents({
  consents,
  organizations,
}: {
  consents: readonly ConsentJson[];
  organizations: readonly OrganizationJson[];
}) {
  const now = useNow(10_000);
  const past = consents.filter((consent) => !isLive(consent, now));
  return (
    <Panel title="Past consents">
      {past.length === 0 ? (
        <p>None revoked or expired.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Revoked and expired consents</caption>
            <TableHead columns={['Granted to', 'What', 'Ended']} />
            <tbody>
              {past.map((consent) => (
                <tr key={consent.id}>
                  <td>
                    {granteeName(consent.grantee)}
                    {consent.grantee.type === 'organization' &&
                      !organizations.some((o) => o.id === consent.grantee.id) &&
                      ' (no longer a member)'}
                  </td>
                  <td>
                    {scopeText(consent)}; {actionsText(consent.actions)};{' '}
                    {purposesText(consent.purposes)}
                  </td>
                  <td>
                    {consent.status === 'revoked'
                      ? `revoked ${consent.revokedAt === null ? '' : formatTime(consent.revokedAt)}`
                      : `expired ${formatTime(consent.validUntil)}`}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}
