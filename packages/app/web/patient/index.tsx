/** The patient's screens. */
export function PatientScreen() {
  return <h1>Patient</h1>;
}
