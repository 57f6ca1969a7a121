import {
  fromHex,
  type MedchainClient,
  type OrganizationJson,
  type RecordJson,
  type TxBodies,
} from '@medchain/client';
import {
  CONSENT_ACTIONS,
  type ConsentAction,
  type LedgerParams,
  PURPOSES,
  type Purpose,
  RESOURCE_TYPE_PATTERN,
} from '@medchain/ledger';
import { useState } from 'preact/hooks';
import {
  CheckboxField,
  ErrorBox,
  formatTime,
  KeyField,
  Notice,
  Panel,
  Progress,
  parseExpiry,
  parseKeyInput,
  SelectField,
  shortKey,
  TextField,
  toLocalInput,
  useAction,
} from '../ui/index.js';
import { ACTION_LABELS, COMMON_RESOURCE_TYPES, PURPOSE_LABELS } from './vocabulary.js';

type GranteeType = 'provider' | 'organization';

const QUICK_DURATIONS = [
  { label: '1 hour', ms: 3_600_000 },
  { label: '1 day', ms: 86_400_000 },
  { label: '1 week', ms: 7 * 86_400_000 },
  { label: '30 days', ms: 30 * 86_400_000 },
] as const;

function toggle<T>(set: ReadonlySet<T>, item: T, on: boolean): Set<T> {
  const next = new Set(set);
  if (on) next.add(item);
  else next.delete(item);
  return next;
}

interface Problems {
  grantee?: string;
  scope?: string;
  otherTypes?: string;
  actions?: string;
  purposes?: string;
  expiry?: string;
}

/**
 * Grant a clinician or a hospital access: scope by record, by resource type (a consent must name
 * at least one of them), actions, purposes, and a mandatory end in the future. Problems are shown
 * beside their fields before anything is sent.
 */
export function GrantConsent({
  client,
  patientKey,
  records,
  organizations,
  params,
  onGranted,
}: {
  client: MedchainClient;
  patientKey: string;
  records: readonly RecordJson[];
  organizations: readonly OrganizationJson[];
  params: LedgerParams;
  onGranted: () => Promise<void>;
}) {
  const [granteeType, setGranteeType] = useState<GranteeType>('provider');
  const [granteeKey, setGranteeKey] = useState('');
  const [orgId, setOrgId] = useState('');
  const [types, setTypes] = useState<ReadonlySet<string>>(new Set());
  const [otherTypes, setOtherTypes] = useState('');
  const [recordIds, setRecordIds] = useState<ReadonlySet<string>>(new Set());
  const [actions, setActions] = useState<ReadonlySet<ConsentAction>>(new Set(['access']));
  const [purposes, setPurposes] = useState<ReadonlySet<Purpose>>(new Set(['TREAT']));
  const [expiry, setExpiry] = useState('');
  const [problems, setProblems] = useState<Problems>({});
  const liveRecords = records.filter((record) => !record.erased);
  const chosenOrg = orgId || organizations[0]?.id || '';

  const grant = useAction(async (body: TxBodies['consent.grant']) => {
    const sent = await client.sendTransaction('consent.grant', body);
    await onGranted();
    return { id: sent.hash, until: body.validUntil };
  });

  const submit = () => {
    const now = Date.now();
    const found: Problems = {};
    let granteeId: Uint8Array | undefined;
    if (granteeType === 'provider') {
      const parsed = parseKeyInput(granteeKey);
      if (parsed.ok) granteeId = parsed.value;
      else found.grantee = parsed.error;
    } else if (chosenOrg === '') {
      found.grantee = 'No member hospital is known to this node.';
    } else {
      granteeId = fromHex(chosenOrg);
    }
    const extra = otherTypes
      .split(/[\s,]+/)
      .map((t) => t.trim())
      .filter((t) => t !== '');
    const badType = extra.find((t) => !RESOURCE_TYPE_PATTERN.test(t));
    if (badType !== undefined) {
      found.otherTypes = `“${badType}” is not a FHIR resource type (letters only, starting with a capital, e.g. CarePlan).`;
    }
    const allTypes = [...new Set([...types, ...extra])];
    if (allTypes.length === 0 && recordIds.size === 0) {
      found.scope = 'Choose at least one kind of record or one record.';
    }
    if (actions.size === 0) found.actions = 'Choose at least one thing they may do.';
    if (purposes.size === 0) found.purposes = 'Choose at least one purpose.';
    const until = parseExpiry(expiry, now, params.maxConsentDurationMs);
    if (!until.ok) found.expiry = until.error;
    setProblems(found);
    if (Object.keys(found).length > 0 || granteeId === undefined || !until.ok) return;
    void grant.run({
      patient: fromHex(patientKey),
      grantee: { type: granteeType, id: granteeId },
      recordIds: [...recordIds].map((id) => fromHex(id)),
      resourceTypes: allTypes,
      actions: CONSENT_ACTIONS.filter((a) => actions.has(a)),
      purposes: PURPOSES.filter((p) => purposes.has(p)),
      validFrom: now,
      validUntil: until.value,
    });
  };

  return (
    <Panel title="Grant access">
      <form
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          submit();
        }}
      >
        <SelectField
          label="Grant to"
          value={granteeType}
          onValue={setGranteeType}
          options={[
            { value: 'provider', label: 'A clinician (by their key)' },
            { value: 'organization', label: 'A hospital (all its clinicians)' },
          ]}
        />
        {granteeType === 'provider' ? (
          <KeyField
            label="Clinician’s key"
            value={granteeKey}
            onValue={setGranteeKey}
            hint="64 hexadecimal characters, or did:key:z6Mk…, as the clinician gives it to you."
            error={problems.grantee}
          />
        ) : (
          <SelectField
            label="Hospital"
            value={chosenOrg}
            onValue={setOrgId}
            options={organizations.map((org) => ({
              value: org.id,
              label: `Hospital ${shortKey(org.id)}`,
            }))}
            hint="The member hospitals of this network, by their organization id."
            error={problems.grantee}
          />
        )}
        <fieldset aria-describedby={problems.scope === undefined ? undefined : 'grant-scope-error'}>
          <legend>Which records</legend>
          <p class="hint">Every record of the kinds you tick, and each record you tick below.</p>
          {COMMON_RESOURCE_TYPES.map((type) => (
            <CheckboxField
              key={type}
              label={`All ${type} records`}
              checked={types.has(type)}
              onChecked={(on) => setTypes(toggle(types, type, on))}
            />
          ))}
          <TextField
            label="Other kinds of record"
            value={otherTypes}
            onValue={setOtherTypes}
            autoComplete="off"
            hint="FHIR resource types, separated by commas (e.g. CarePlan, Encounter)."
            error={problems.otherTypes}
          />
          {liveRecords.length > 0 && (
            <fieldset>
              <legend>Single records</legend>
              {liveRecords.map((record) => (
                <CheckboxField
                  key={record.id}
                  label={`${record.resourceType} ${shortKey(record.id)} at hospital ${shortKey(record.custodian)}, ${formatTime(record.updatedAt)}`}
                  checked={recordIds.has(record.id)}
                  onChecked={(on) => setRecordIds(toggle(recordIds, record.id, on))}
                />
              ))}
            </fieldset>
          )}
          {problems.scope !== undefined && (
            <p class="field-error" id="grant-scope-error">
              {problems.scope}
            </p>
          )}
        </fieldset>
        <fieldset>
          <legend>They may</legend>
          {CONSENT_ACTIONS.map((action) => (
            <CheckboxField
              key={action}
              label={ACTION_LABELS[action]}
              checked={actions.has(action)}
              onChecked={(on) => setActions(toggle(actions, action, on))}
            />
          ))}
          {problems.actions !== undefined && <p class="field-error">{problems.actions}</p>}
        </fieldset>
        <fieldset>
          <legend>For</legend>
          {PURPOSES.map((purpose) => (
            <CheckboxField
              key={purpose}
              label={`${PURPOSE_LABELS[purpose]} (${purpose})`}
              checked={purposes.has(purpose)}
              onChecked={(on) => setPurposes(toggle(purposes, purpose, on))}
            />
          ))}
          {problems.purposes !== undefined && <p class="field-error">{problems.purposes}</p>}
        </fieldset>
        <TextField
          label="Access ends"
          type="datetime-local"
          value={expiry}
          onValue={setExpiry}
          required
          hint="Required: access stops by itself at this time (your time zone)."
          error={problems.expiry}
        />
        <div class="actions quick">
          {QUICK_DURATIONS.map((quick) => (
            <button
              key={quick.label}
              type="button"
              class="secondary"
              onClick={() => setExpiry(toLocalInput(Date.now() + quick.ms))}
            >
              Ends in {quick.label}
            </button>
          ))}
        </div>
        <button type="submit" disabled={grant.pending}>
          Grant access
        </button>
      </form>
      {grant.pending && <Progress label="Granting: waiting for the block to commit…" />}
      {grant.result !== undefined && (
        <Notice>
          Access granted until {formatTime(grant.result.until)} (consent{' '}
          <span class="mono">{shortKey(grant.result.id)}</span>).
        </Notice>
      )}
      <ErrorBox error={grant.error} />
    </Panel>
  );
}
