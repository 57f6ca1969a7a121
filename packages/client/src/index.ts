export { fromDidKey, parsePartyKey, toDidKey } from './did-key.js';
export {
  contentDigest,
  type ReceivedRequest,
  RequestSignatureError,
  type RequestSignatureErrorCode,
  type RequestSigner,
  type RequestToSign,
  type SignOptions,
  signRequest,
  type VerifiedRequest,
  verifyRequestSignature,
} from './http-signature.js';
