/**
 * "Which patients' records may I read now?": per followed patient, the consents naming this
 * clinician or their hospital (GET /v1/providers/:key/consents?patient=, the provider's own read),
 * live ones first, each with its scope, purposes and a countdown to its expiry.
 */
import {
  allPages,
  type ConsentJson,
  fromHex,
  type MedchainClient,
  toDidKey,
} from '@medchain/client';
import type { Purpose } from '@medchain/ledger';
import { useEffect, useState } from 'preact/hooks';
import {
  Countdown,
  ErrorBox,
  formatTime,
  KeyField,
  Panel,
  Progress,
  shortKey,
  useAction,
  useAddForm,
  useNow,
} from '../ui/index.js';
import type { PatientList } from './patients.js';
import { PURPOSE_LABELS } from './request.js';

export interface PickedRecord {
  readonly recordId: string;
  readonly purpose: Purpose;
  readonly patient: string;
}

type Standing = 'active' | 'revoked' | 'expired' | 'not yet valid';

export function consentStanding(consent: ConsentJson, now: number): Standing {
  if (consent.status === 'revoked') return 'revoked';
  if (now >= consent.validUntil) return 'expired';
  if (now < consent.validFrom) return 'not yet valid';
  return 'active';
}

const BADGE: Record<Standing, string> = {
  active: 'badge ok',
  revoked: 'badge error',
  expired: 'badge neutral',
  'not yet valid': 'badge warn',
};

function ConsentItem({
  consent,
  me,
  patient,
  onOpen,
  busy,
}: {
  consent: ConsentJson;
  me: string;
  patient: string;
  onOpen: (picked: PickedRecord) => void;
  busy: boolean;
}) {
  const now = useNow();
  const standing = consentStanding(consent, now);
  const purpose: Purpose = consent.purposes.includes('TREAT')
    ? 'TREAT'
    : (consent.purposes[0] ?? 'TREAT');
  return (
    <li class={standing === 'active' ? 'consent' : 'consent inactive'}>
      <p class="consent-head">
        <span class={BADGE[standing]}>{standing}</span>{' '}
        <span>
          to{' '}
          {consent.grantee.type === 'provider' && consent.grantee.id === me
            ? 'you'
            : 'your hospital'}
        </span>{' '}
        <span class="hint mono" title={consent.id}>
          consent {shortKey(consent.id)}
        </span>
      </p>
      <dl class="facts">
        <dt>Purposes</dt>
        <dd>{consent.purposes.map((p) => PURPOSE_LABELS[p]).join(', ')}</dd>
        <dt>Actions</dt>
        <dd>{consent.actions.join(', ')}</dd>
        {consent.resourceTypes.length > 0 && (
          <>
            <dt>Resource types</dt>
            <dd>
              {consent.resourceTypes.join(', ')} (any such record: ask the patient for its id)
            </dd>
          </>
        )}
        <dt>Valid</dt>
        <dd>
          {formatTime(consent.validFrom)} – {formatTime(consent.validUntil)}
          {standing === 'active' && (
            <>
              {' '}
              (<Countdown until={consent.validUntil} />)
            </>
          )}
          {standing === 'revoked' && consent.revokedAt !== null && (
            <> (revoked {formatTime(consent.revokedAt)})</>
          )}
        </dd>
      </dl>
      {consent.recordIds.length > 0 && (
        <ul class="record-ids">
          {consent.recordIds.map((id) => (
            <li key={id}>
              <span class="mono" title={id}>
                Record {shortKey(id)}
              </span>{' '}
              <button
                type="button"
                class={standing === 'active' ? undefined : 'secondary'}
                disabled={busy}
                onClick={() => onOpen({ recordId: id, purpose, patient })}
              >
                Open record {shortKey(id)}
              </button>
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

function PatientCard({
  client,
  me,
  patient,
  onRemove,
  onLoaded,
  onOpen,
  busy,
  refresh,
}: {
  client: MedchainClient;
  me: string;
  patient: string;
  onRemove: () => void;
  onLoaded: (patient: string, consents: readonly ConsentJson[]) => void;
  onOpen: (picked: PickedRecord) => void;
  busy: boolean;
  refresh: number;
}) {
  const load = useAction(async () => {
    const consents = await allPages((page) => client.providerConsents(me, patient, page));
    onLoaded(patient, consents);
    return consents;
  });
  useEffect(() => {
    void load.run();
  }, [client, patient, refresh]);
  const now = Date.now();
  const consents = [...(load.result ?? [])].sort((a, b) => {
    const rank = (c: ConsentJson) => (consentStanding(c, now) === 'active' ? 0 : 1);
    return rank(a) - rank(b) || b.createdAt - a.createdAt;
  });
  const active = consents.filter((c) => consentStanding(c, now) === 'active').length;
  return (
    <li class="patient-card">
      <h3>
        Patient <span class="mono">{shortKey(patient)}</span>
      </h3>
      <p class="hint mono">{toDidKey(fromHex(patient))}</p>
      {load.pending && <Progress label="Reading the patient’s consents to you…" />}
      <ErrorBox error={load.error} />
      {load.result !== undefined && (
        <p>
          {consents.length === 0
            ? 'This patient has given you and your hospital no consent.'
            : `${active} active consent${active === 1 ? '' : 's'} of ${consents.length}.`}
        </p>
      )}
      {consents.length > 0 && (
        <ul class="list consents">
          {consents.map((consent) => (
            <ConsentItem
              key={consent.id}
              consent={consent}
              me={me}
              patient={patient}
              onOpen={onOpen}
              busy={busy}
            />
          ))}
        </ul>
      )}
      <div class="actions">
        <button type="button" class="secondary" onClick={() => void load.run()}>
          Refresh patient {shortKey(patient)}
        </button>
        <button type="button" class="secondary" onClick={onRemove}>
          Stop following patient {shortKey(patient)}
        </button>
      </div>
    </li>
  );
}

export function PatientsPanel({
  client,
  me,
  list,
  onLoaded,
  onOpen,
  busy,
}: {
  client: MedchainClient;
  me: string;
  list: PatientList;
  onLoaded: (patient: string, consents: readonly ConsentJson[]) => void;
  onOpen: (picked: PickedRecord) => void;
  busy: boolean;
}) {
  const adding = useAddForm(
    list.add,
    () => 'Not a patient key: enter 64 hexadecimal characters or a did:key:z6Mk… key.',
  );
  const [refresh, setRefresh] = useState(0);
  return (
    <Panel title="My patients’ consents">
      <p class="hint">
        The ledger lists consents by patient. Add a patient by the key they show on their Patient
        screen to see what they granted you or your hospital, and until when.
      </p>
      <form class="inline-form" onSubmit={adding.onSubmit}>
        <KeyField
          label="Patient key"
          value={adding.draft}
          onValue={adding.setDraft}
          error={adding.error}
        />
        <button type="submit">Add patient</button>
        {list.patients.length > 0 && (
          <button type="button" class="secondary" onClick={() => setRefresh((n) => n + 1)}>
            Refresh all
          </button>
        )}
      </form>
      {list.patients.length === 0 ? (
        <p>No patients yet.</p>
      ) : (
        <ul class="list patients">
          {list.patients.map((patient) => (
            <PatientCard
              key={patient}
              client={client}
              me={me}
              patient={patient}
              onRemove={() => list.remove(patient)}
              onLoaded={onLoaded}
              onOpen={onOpen}
              busy={busy}
              refresh={refresh}
            />
          ))}
        </ul>
      )}
    </Panel>
  );
}
