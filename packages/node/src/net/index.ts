export {
  FramedProtocol,
  type FramedProtocolOptions,
  type ProtocolHost,
} from './framed-protocol.js';
export { boundedLengthDecoder, encodeFrame, FramingError, varintLength } from './framing.js';
export { allowlistGater, PeerAllowlist } from './gater.js';
export { createHost, type Host, type HostOptions, protocolId } from './host.js';
export { loadOrCreatePeerIdentity, PEER_KEY_FILE, type PeerIdentity } from './identity.js';
export {
  Libp2pTransport,
  type Libp2pTransportOptions,
  type TransportHost,
} from './libp2p-transport.js';
export { MembershipGate, type MembershipGateOptions, type PeerStanding } from './membership.js';
export { type MembershipSource, PeerDirectory } from './peers.js';
export { RequestProtocol, type RequestProtocolOptions } from './request-protocol.js';
