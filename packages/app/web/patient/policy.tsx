import { fromHex, type MedchainClient, type PatientJson } from '@medchain/client';
import { useEffect, useState } from 'preact/hooks';
import { CheckboxField, ErrorBox, Notice, Panel, Progress, useAction } from '../ui/index.js';

/** Opt out of emergency (break-glass) access and of research: one patient.policy transaction. */
export function Policy({
  client,
  patient,
  onChanged,
}: {
  client: MedchainClient;
  patient: PatientJson;
  onChanged: () => Promise<void>;
}) {
  const [breakGlass, setBreakGlass] = useState(patient.breakGlassOptOut);
  const [research, setResearch] = useState(patient.researchOptOut);
  // The committed state wins whenever it changes (after a save here or elsewhere).
  useEffect(() => setBreakGlass(patient.breakGlassOptOut), [patient.breakGlassOptOut]);
  useEffect(() => setResearch(patient.researchOptOut), [patient.researchOptOut]);
  const changed = breakGlass !== patient.breakGlassOptOut || research !== patient.researchOptOut;
  const save = useAction(async () => {
    await client.sendTransaction('patient.policy', {
      patient: fromHex(patient.key),
      breakGlassOptOut: breakGlass,
      researchOptOut: research,
    });
    await onChanged();
    return true;
  });
  return (
    <Panel title="Emergency access and research">
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void save.run();
        }}
      >
        <CheckboxField
          label="Opt out of emergency (break-glass) access"
          checked={breakGlass}
          onChecked={setBreakGlass}
          hint="If ticked, no clinician can open your records in an emergency without your consent. Every emergency access is logged and shown in your audit trail either way."
        />
        <CheckboxField
          label="Opt out of research"
          checked={research}
          onChecked={setResearch}
          hint="If ticked, no hospital may release your records to a research study, even under a consent."
        />
        <button type="submit" disabled={!changed || save.pending}>
          Save choices
        </button>
      </form>
      {save.pending && <Progress label="Saving: waiting for the block to commit…" />}
      {save.result === true && !changed && !save.pending && <Notice>Choices saved.</Notice>}
      <ErrorBox error={save.error} />
      <p class="hint">
        Now: emergency access {patient.breakGlassOptOut ? 'refused' : 'allowed'}; research{' '}
        {patient.researchOptOut ? 'refused' : 'allowed'}.
      </p>
    </Panel>
  );
}
