export { checkFhirResource } from './fhir.js';
export {
  type PutRecord,
  VAULT_MASTER_KEY_INFO,
  Vault,
  type VaultEntry,
  type VaultOptions,
  type VaultRecord,
  type VaultVersion,
} from './vault.js';
