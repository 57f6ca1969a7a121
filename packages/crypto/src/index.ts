export {
  assertLength,
  binaryString,
  bytesEqual,
  compareBytes,
  concatBytes,
  fromBinaryString,
  fromHex,
  fromUtf8,
  toHex,
  utf8,
} from './bytes.js';
export {
  assertAcceptablePublicKey,
  ED25519_BACKEND,
  type Ed25519BackendName,
  ed25519Verifiers,
  generateKeyPair,
  isAcceptablePublicKey,
  isAcceptablePublicKeyCached,
  type KeyPair,
  keyPairFromSeed,
  PUBLIC_KEY_CACHE_LIMIT,
  PUBLIC_KEY_LENGTH,
  SEED_LENGTH,
  SIGNATURE_LENGTH,
  Signer,
  shortPublicKey,
  sign,
  type VerifyFunction,
  verify,
  verifyReference,
} from './ed25519.js';
export {
  type Canonical,
  decodeCanonical,
  decodeCanonicalViews,
  decodeStoredCanonical,
  encodeCanonical,
} from './encoding.js';
export {
  assertEnvelope,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  type OpenArgs,
  type Opened,
  openEnvelope,
  type SealArgs,
  sealEnvelope,
} from './envelope.js';
export {
  CodedError,
  type CodedErrorOptions,
  CryptoError,
  type CryptoErrorCode,
} from './errors.js';
export {
  HashDomain,
  type HashDomainName,
  sha256,
  sha256Binary,
  taggedHash,
  taggedHashBinary,
} from './hash.js';
export {
  DEFAULT_SCRYPT_PARAMS,
  decryptKeystore,
  encryptKeystore,
  formatKeystore,
  type KeystoreFile,
  parseKeystore,
  type ScryptParams,
} from './keystore.js';
export {
  BINARY_STRING_OVERHEAD_BYTES,
  binaryStringCost,
  LRU_ENTRY_OVERHEAD_BYTES,
  LruCache,
  type LruOptions,
} from './lru.js';
export {
  EMPTY_MERKLE_ROOT,
  type MerkleProof,
  merkleLeafHash,
  merkleProof,
  merkleRoot,
  verifyMerkleProof,
} from './merkle.js';
export { SeededRandom } from './seeded-random.js';
export {
  X25519_KEY_LENGTH,
  x25519,
  x25519PublicKey,
  x25519PublicKeyFromEd25519,
  x25519SecretFromEd25519Seed,
} from './x25519.js';
