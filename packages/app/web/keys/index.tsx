/** Keys: create, import, export, unlock. */
export function KeysScreen() {
  return <h1>Keys</h1>;
}
