import { X509Certificate } from 'node:crypto';
import { statfsSync } from 'node:fs';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * All node metrics, declared in one typed object (lodestar's style) so every name, label and
 * help text is in one place. Each node gets its own Registry, never prom-client's global
 * default, so several nodes can run in one process (tests, simulations).
 */
export function createMetrics(
  options: {
    register?: Registry;
    node?: string;
    /** The node home: the free space of its filesystem is read at each scrape. */
    home?: string;
    /**
     * The process's own metrics too (prom-client's defaults: CPU, resident memory, V8 heap by
     * space, GC pauses, event-loop lag, handles). Only for the registry of a node that has the
     * process to itself: they describe the process, not one node of several.
     */
    process?: boolean;
  } = {},
) {
  const register = options.register ?? new Registry();
  if (options.node !== undefined) register.setDefaultLabels({ node: options.node });
  if (options.process === true) collectDefaultMetrics({ register });
  const registers = [register];

  const gauge = <L extends string = never>(name: string, help: string, labelNames: L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers });
  const counter = <L extends string = never>(name: string, help: string, labelNames: L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers });
  const histogram = <L extends string = never>(
    name: string,
    help: string,
    buckets: number[],
    labelNames: L[] = [],
  ) => new Histogram<L>({ name, help, buckets, labelNames, registers });

  return {
    register,
    consensus: {
      height: gauge('medchain_consensus_height', 'Height the consensus core is working on'),
      view: gauge('medchain_consensus_view', 'Current view number of the consensus core'),
      viewChanges: counter(
        'medchain_consensus_view_changes_total',
        'Views this node moved past without committing in them (a primary failed or was slow)',
      ),
      validators: gauge(
        'medchain_consensus_validators',
        'Validators deciding the height being worked on (quorum: 2f+1 of them, f = floor((n-1)/3))',
      ),
      commits: counter('medchain_consensus_commits_total', 'Blocks finalised by a commit quorum'),
      messagesReceived: counter(
        'medchain_consensus_messages_received_total',
        'Consensus messages received from peers, by message type',
        ['type'],
      ),
      messagesDropped: counter(
        'medchain_consensus_messages_dropped_total',
        'Consensus messages dropped before or by the core, by reason (bad signature, old view, duplicate, non-validator...)',
        ['reason'],
      ),
      proposalsRefused: counter(
        'medchain_consensus_proposals_refused_total',
        'Proposals this node refused to vote for, by reason (invalid: the ledger rules; time_ahead: block time beyond the clock drift tolerance)',
        ['reason'],
      ),
      equivocations: counter(
        'medchain_consensus_equivocations_total',
        'Equivocations caught: a validator signed two different votes for one height, view and phase (or two checkpoints for one height); see GET /v1/consensus/evidence',
        ['phase'],
      ),
    },
    mempool: {
      size: gauge('medchain_mempool_size', 'Transactions waiting in the mempool'),
      sizeBytes: gauge('medchain_mempool_size_bytes', 'Bytes of transactions in the mempool'),
      gapped: gauge(
        'medchain_mempool_gapped',
        'Transactions in the mempool waiting behind a nonce gap (at most a quarter of mempool.maxTxs)',
      ),
      admitted: counter(
        'medchain_mempool_admitted_total',
        'Transactions admitted to the mempool, by source (api, gossip)',
        ['source'],
      ),
      rejected: counter(
        'medchain_mempool_rejected_total',
        'Transactions refused by the mempool, by reason (bad signature, duplicate, full, nonce, the executor role code...)',
        ['reason'],
      ),
      limited: counter(
        'medchain_mempool_limited_total',
        'Transactions refused by a pending-transaction limit, by limit (signer, address: RATE_LIMITED; gapped: MEMPOOL_FULL)',
        ['limit'],
      ),
      expired: counter(
        'medchain_mempool_expired_total',
        'Transactions dropped after waiting too long behind a nonce gap',
      ),
      gossipFrameTxs: histogram(
        'medchain_mempool_gossip_frame_txs',
        'Transactions per mempool gossip frame this node sent (each frame goes to every member peer)',
        [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      ),
    },
    chain: {
      blocksCommitted: counter('medchain_blocks_committed_total', 'Blocks executed and stored'),
      txCommitted: counter(
        'medchain_tx_committed_total',
        'Transactions in stored blocks, by outcome (ok, failed)',
        ['outcome'],
      ),
      height: gauge('medchain_chain_height', 'Height of the last stored block'),
    },
    storage: {
      batchSeconds: histogram(
        'medchain_storage_batch_seconds',
        'Time to write one atomic LevelDB batch (one per committed block)',
        [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      ),
      batchOps: histogram(
        'medchain_storage_batch_ops',
        'Number of put/del operations in one LevelDB batch',
        [1, 10, 100, 1_000, 10_000, 100_000],
      ),
      stateCacheHits: counter(
        'medchain_state_cache_hits_total',
        'State reads answered by the in-memory cache',
      ),
      stateCacheMisses: counter(
        'medchain_state_cache_misses_total',
        'State reads that went to LevelDB',
      ),
    },
    wal: {
      syncSeconds: histogram(
        'medchain_wal_sync_seconds',
        'Time to write and fsync pending WAL records',
        [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
      ),
      recordsAppended: counter(
        'medchain_wal_records_appended_total',
        'Records appended to the WAL',
      ),
      bytesDropped: counter(
        'medchain_wal_bytes_dropped_total',
        'Bytes cut from a torn or corrupt WAL tail on replay',
      ),
    },
    net: {
      peers: gauge('medchain_libp2p_peers', 'Peers with an open libp2p connection'),
      connectionsDenied: counter(
        'medchain_libp2p_connections_denied_total',
        'Connections refused by the allowlist gater, by stage',
        ['stage'],
      ),
      framesIn: counter(
        'medchain_protocol_frames_in_total',
        'Frames received and decoded, per protocol',
        ['protocol'],
      ),
      framesOut: counter(
        'medchain_protocol_frames_out_total',
        'Frames written to a stream, per protocol',
        ['protocol'],
      ),
      framesRejected: counter(
        'medchain_protocol_frames_rejected_total',
        'Frames refused, per protocol and reason (oversize, framing, decode, handler, queue_full, not_allowed)',
        ['protocol', 'reason'],
      ),
      sendWaits: counter(
        'medchain_protocol_send_waits_total',
        'Times a sender waited for drain because the stream signalled backpressure',
        ['protocol'],
      ),
      streamsOpened: counter(
        'medchain_protocol_streams_opened_total',
        'Long-lived outbound streams opened, per protocol (reconnects included)',
        ['protocol'],
      ),
      inboundStreams: gauge(
        'medchain_protocol_inbound_streams',
        'Inbound protocol streams open now (each holds one of the per-connection slots)',
        ['protocol'],
      ),
      streamTimeouts: counter(
        'medchain_protocol_stream_timeouts_total',
        'Inbound streams aborted by a timeout, per protocol and reason (idle, partial_frame, deadline)',
        ['protocol', 'reason'],
      ),
    },
    sync: {
      blocksFetched: counter(
        'medchain_sync_blocks_fetched_total',
        'Blocks with commit certificates received from peers by block sync',
      ),
      requests: counter(
        'medchain_sync_requests_total',
        'Block sync requests sent, by outcome (ok, empty, failed)',
        ['outcome'],
      ),
      stallProbes: counter(
        'medchain_sync_stall_probes_total',
        'Times no block committed for a whole stall interval and peers were asked for newer blocks',
      ),
    },
    home: {
      diskFreeBytes: new Gauge({
        name: 'medchain_home_disk_free_bytes',
        help: "Bytes available to the node on its home's filesystem (LevelDB, WAL, vault)",
        registers,
        collect() {
          if (options.home !== undefined) this.set(diskOf(options.home).free);
        },
      }),
      diskSizeBytes: new Gauge({
        name: 'medchain_home_disk_size_bytes',
        help: "Size of the home's filesystem",
        registers,
        collect() {
          if (options.home !== undefined) this.set(diskOf(options.home).size);
        },
      }),
    },
    tls: {
      certificateExpiry: gauge(
        'medchain_api_tls_certificate_expiry_timestamp_seconds',
        "When the API's TLS certificate (api.tls.cert, the first of the chain) expires, Unix seconds; absent without TLS",
      ),
    },
    http: {
      requests: counter(
        'medchain_http_requests_total',
        'HTTP API requests by route and status code',
        ['route', 'status'],
      ),
      requestSeconds: histogram(
        'medchain_http_request_seconds',
        'HTTP API request duration by route',
        [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
        ['route'],
      ),
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

function diskOf(path: string): { free: number; size: number } {
  const stats = statfsSync(path);
  return { free: stats.bavail * stats.bsize, size: stats.blocks * stats.bsize };
}

/** The expiry (notAfter, Unix seconds) of the first certificate of a PEM chain. */
export function certificateExpiry(pem: string | Buffer): number {
  return Date.parse(new X509Certificate(pem).validTo) / 1000;
}
