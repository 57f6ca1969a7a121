/** The hospital operator's dashboard (helper B). */
export function OperatorScreen() {
  return <h1>Operator</h1>;
}
