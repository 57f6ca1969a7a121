/**
 * The hospital operator's dashboard: the network as the browser sees it from every node it may
 * call (validators with their heights, views and peers, each node's health, blocks and
 * transactions per second, the mempool, recent blocks with their verified certificates,
 * equivocation evidence), and the hospital's clinicians, registered and suspended with the
 * operator's admin key.
 */
import type { EquivocationJson, ValidatorJson } from '@medchain/client';
import { useRole, useSession } from '../session.js';
import {
  ErrorBox,
  explainError,
  formatTime,
  Panel,
  shortKey,
  TableHead,
  TextField,
  useAddForm,
} from '../ui/index.js';
import {
  type BlockRow,
  type NetworkState,
  type NodeReading,
  RATE_WINDOW_MS,
  useNetwork,
} from './network.js';
import { type NodeList, type NodeSource, useNodeList } from './nodes.js';
import { ProvidersPanel } from './providers.js';
import { formatRate } from './rates.js';
import { ScrollTable } from './table.js';
import './operator.css';

export function OperatorScreen() {
  const session = useSession();
  const { key, client } = useRole('operator');
  const list = useNodeList(session.nodeUrl);
  const network = useNetwork(list.nodes, session.nodeUrl, client);
  return (
    <>
      <h1>Operator</h1>
      <Summary network={network} />
      <Validators network={network} blocked={list.blocked} />
      <Nodes network={network} list={list} />
      <Blocks network={network} />
      <Evidence network={network} />
      {key === undefined || client === undefined ? (
        <Panel title="Clinicians of your hospital">
          <p>
            Unlock your hospital’s admin key (role operator) on the <a href="#/keys">Keys</a> tab to
            register and suspend clinicians. The dashboard above needs no key, but with it the
            transactions in each block are counted too.
          </p>
        </Panel>
      ) : (
        <ProvidersPanel key={key.entry.publicKey} client={client} unlocked={key} />
      )}
    </>
  );
}

const windowSeconds = RATE_WINDOW_MS / 1000;

function sourceStatus(network: NetworkState) {
  return network.readings.find((r) => r.node.url === network.source)?.status;
}

function Summary({ network }: { network: NetworkState }) {
  const status = sourceStatus(network);
  const answering = network.readings.filter((r) => r.status !== undefined).length;
  return (
    <Panel title="Network">
      <dl class="stats">
        <div>
          <dt>Height</dt>
          <dd>{status?.height ?? '—'}</dd>
        </div>
        <div>
          <dt>Blocks per second</dt>
          <dd>{formatRate(network.blocksPerSecond)}</dd>
        </div>
        <div>
          <dt>Transactions per second</dt>
          <dd>{formatRate(network.txsPerSecond)}</dd>
        </div>
        <div>
          <dt>Mempool</dt>
          <dd>{status === undefined ? '—' : `${status.mempoolSize} pending`}</dd>
        </div>
        <div>
          <dt>Validators</dt>
          <dd>{status?.validators.length ?? '—'}</dd>
        </div>
        <div>
          <dt>Nodes answering</dt>
          <dd>
            {answering} of {network.readings.length}
          </dd>
        </div>
      </dl>
      <p class="hint">
        {network.source === undefined
          ? 'No node answers: the figures appear when one does.'
          : `As seen from ${network.source}; rates over the last ${windowSeconds} s, polled every second. An idle chain makes no blocks.`}
        {network.source !== undefined &&
          !network.countingTxs &&
          ' Transactions are counted with your hospital’s admin key unlocked (block bodies are for members).'}
      </p>
    </Panel>
  );
}

interface Health {
  readonly badge: 'ok' | 'warn' | 'error' | 'neutral';
  readonly label: string;
  readonly detail?: string;
}

function healthOf(reading: NodeReading, topHeight: number, blocked: boolean): Health {
  if (reading.checkedAt === undefined) return { badge: 'neutral', label: 'checking' };
  if (reading.status === undefined) {
    if (blocked) {
      return {
        badge: 'error',
        label: 'blocked',
        detail:
          'This page’s security policy does not allow calling this node. Add it to api.app.dashboardNodes in the config of the node serving this page (and this page’s origin to its api.cors.origins), then restart that node.',
      };
    }
    const { code, what } = explainError(reading.error);
    return {
      badge: 'error',
      label: 'down',
      detail: `${what} [${code}] Check that the node is running (medchain devnet status) and that it accepts this page’s origin (api.cors.origins).`,
    };
  }
  if (!reading.healthy) {
    return {
      badge: 'warn',
      label: 'unhealthy',
      detail: 'It answers its status but not /v1/health.',
    };
  }
  if (reading.status.syncing) return { badge: 'warn', label: 'syncing' };
  const behind = topHeight - reading.status.height;
  if (behind > 2) return { badge: 'warn', label: `behind by ${behind} blocks` };
  return { badge: 'ok', label: 'healthy' };
}

function HealthBadge({ health }: { health: Health }) {
  return <span class={`badge ${health.badge}`}>{health.label}</span>;
}

function topHeight(network: NetworkState): number {
  return Math.max(0, ...network.readings.map((r) => r.status?.height ?? 0));
}

function orgLabel(validator: ValidatorJson | undefined): string {
  // The first 8 hex characters tell the members apart; the full id is in the row's title.
  return validator === undefined ? 'unknown' : `org ${validator.orgId.slice(0, 8)}`;
}

function Validators({ network, blocked }: { network: NetworkState; blocked: ReadonlySet<string> }) {
  const status = sourceStatus(network);
  const top = topHeight(network);
  const validators = status?.validators ?? [];
  const unmatched = network.readings.filter(
    (r) => r.peerId === undefined || !validators.some((v) => v.peerId === r.peerId),
  );
  return (
    <Panel title="Validators">
      {validators.length === 0 ? (
        <p>No node answers yet, so the validator set is unknown.</p>
      ) : (
        <ScrollTable label="Validators table">
          <table class="validators">
            <caption>
              {validators.length} validators, and the node running each (matched by its peers)
            </caption>
            <TableHead
              columns={['Validator', 'Health', 'Height', 'View', 'Peers', 'Mempool', 'Node']}
            />
            <tbody>
              {validators.map((validator) => {
                const reading = network.readings.find((r) => r.peerId === validator.peerId);
                return (
                  <ValidatorRow
                    key={validator.publicKey}
                    label={orgLabel(validator)}
                    title={`organization ${validator.orgId}, validator key ${validator.publicKey}, peer ${validator.peerId}`}
                    reading={reading}
                    top={top}
                    blocked={reading !== undefined && blocked.has(reading.node.url)}
                  />
                );
              })}
            </tbody>
          </table>
        </ScrollTable>
      )}
      {unmatched.length > 0 && validators.length > 0 && (
        <p class="hint">
          Nodes not matched to a validator (not connected to all others, or not answering):{' '}
          {unmatched.map((r) => r.node.url).join(', ')}. See Nodes below.
        </p>
      )}
      {validators.length > 0 && (
        <p class="hint">
          A validator without a node has no API address this page knows: add it under Nodes.
        </p>
      )}
    </Panel>
  );
}

function ValidatorRow({
  label,
  title,
  reading,
  top,
  blocked,
}: {
  label: string;
  title: string;
  reading: NodeReading | undefined;
  top: number;
  blocked: boolean;
}) {
  const status = reading?.status;
  return (
    <tr>
      <th scope="row" class="nowrap" title={title}>
        {label}
      </th>
      <td>
        {reading === undefined ? '—' : <HealthBadge health={healthOf(reading, top, blocked)} />}
      </td>
      <td>{status?.height ?? '—'}</td>
      <td>{status?.view ?? '—'}</td>
      <td>{status?.peers.length ?? '—'}</td>
      <td>{status?.mempoolSize ?? '—'}</td>
      <td class="mono">{reading?.node.url ?? 'no API address known'}</td>
    </tr>
  );
}

const SOURCE_LABELS: Record<NodeSource, string> = {
  app: 'the app’s node (Node, at the top)',
  configured: 'listed by this page’s node',
  added: 'added by you',
};

function Nodes({ network, list }: { network: NetworkState; list: NodeList }) {
  const adding = useAddForm(list.add, (failure) => failure);
  const top = topHeight(network);
  return (
    <Panel title="Nodes">
      <ul class="list nodes">
        {network.readings.map((reading) => {
          const health = healthOf(reading, top, list.blocked.has(reading.node.url));
          return (
            <li key={reading.node.url}>
              <p class="node-head">
                <span class="mono">{reading.node.url}</span> <HealthBadge health={health} />{' '}
                <span class="hint">{SOURCE_LABELS[reading.node.source]}</span>
              </p>
              {reading.status !== undefined && (
                <p class="hint">
                  Height {reading.status.height}, view {reading.status.view},{' '}
                  {reading.status.peers.length} peers, mempool {reading.status.mempoolSize}
                  {reading.checkedAt === undefined
                    ? ''
                    : `, checked ${formatTime(reading.checkedAt)}`}
                </p>
              )}
              {health.detail !== undefined && <p class="node-detail">{health.detail}</p>}
              {reading.node.source === 'added' && (
                <button
                  type="button"
                  class="secondary"
                  onClick={() => list.remove(reading.node.url)}
                >
                  Stop watching {reading.node.url}
                </button>
              )}
            </li>
          );
        })}
      </ul>
      {list.configError !== undefined && (
        <p class="hint">Only this page’s node is listed: {list.configError}.</p>
      )}
      <form class="inline-form" onSubmit={adding.onSubmit}>
        <TextField
          label="Another node’s API address"
          type="url"
          value={adding.draft}
          onValue={adding.setDraft}
          required
          autoComplete="off"
          hint="e.g. https://node.hospital-b.example:7701. The browser calls it only if this page’s node allows it (api.app.dashboardNodes) and it allows this page (api.cors.origins)."
        />
        <button type="submit">Watch node</button>
      </form>
      <ErrorBox error={adding.error} />
    </Panel>
  );
}

function Certificate({ block, validators }: { block: BlockRow; validators: ValidatorJson[] }) {
  const certificate = block.certificate;
  if (certificate === null) return <span class="badge error">no certificate</span>;
  const signers = certificate.votes.map((vote) =>
    orgLabel(validators.find((v) => v.publicKey === vote.from)),
  );
  const { verification } = block;
  return (
    <>
      <span>
        view {certificate.view}: {certificate.votes.length} of {validators.length || '?'} signed
      </span>{' '}
      {verification.state === 'verified' && <span class="badge ok">quorum verified</span>}
      {verification.state === 'checking' && <span class="badge neutral">checking</span>}
      {verification.state === 'invalid' && (
        <span class="badge error" title={verification.message}>
          invalid
        </span>
      )}
      {verification.state === 'unchecked' && (
        <span class="badge warn" title={verification.message}>
          not checked
        </span>
      )}
      <details class="signers">
        <summary>Signers of block {block.height}</summary>
        <ul>
          {signers.map((signer, index) => (
            <li key={certificate.votes[index]!.from}>
              {signer} <span class="mono hint">{shortKey(certificate.votes[index]!.from)}</span>
            </li>
          ))}
        </ul>
      </details>
    </>
  );
}

function Blocks({ network }: { network: NetworkState }) {
  const validators = sourceStatus(network)?.validators ?? [];
  return (
    <Panel title="Recent blocks">
      {network.blocks.length === 0 ? (
        <p>No block read yet.</p>
      ) : (
        <ScrollTable label="Recent blocks table">
          <table class="blocks">
            <caption class="visually-hidden">
              The latest blocks, newest first, with their commit certificates
            </caption>
            <TableHead
              columns={[
                'Height',
                'Time',
                <abbr title="Transactions">Txs</abbr>,
                'Certificate',
                'Proposer',
                'Hash',
              ]}
            />
            <tbody>
              {network.blocks.map((block) => (
                <tr key={block.hash}>
                  <th scope="row">{block.height}</th>
                  <td class="nowrap">
                    <time
                      dateTime={new Date(block.header.time).toISOString()}
                      title={formatTime(block.header.time)}
                    >
                      {new Date(block.header.time).toLocaleTimeString()}
                    </time>
                  </td>
                  <td>{block.txs ?? '—'}</td>
                  <td class="certificate">
                    <Certificate block={block} validators={validators} />
                  </td>
                  <td class="nowrap">
                    {orgLabel(validators.find((v) => v.publicKey === block.header.proposer))}
                  </td>
                  <td class="mono" title={block.hash}>
                    {shortKey(block.hash)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </ScrollTable>
      )}
      <p class="hint">
        Each certificate is checked in this browser by the light client: on this chain, linked to
        its parent, and signed by a quorum of the validator set deciding its height.
      </p>
    </Panel>
  );
}

function Evidence({ network }: { network: NetworkState }) {
  const byKey = new Map<string, { item: EquivocationJson; reporters: string[] }>();
  let asked = 0;
  for (const reading of network.readings) {
    if (reading.evidence === undefined) continue;
    asked++;
    for (const item of reading.evidence) {
      const key = `${item.validator}:${item.phase}:${item.height}:${item.view}`;
      const entry = byKey.get(key) ?? { item, reporters: [] };
      entry.reporters.push(reading.node.url);
      byKey.set(key, entry);
    }
  }
  const validators = sourceStatus(network)?.validators ?? [];
  const entries = [...byKey.values()].sort((a, b) => b.item.height - a.item.height);
  return (
    <Panel title="Equivocation evidence">
      {asked === 0 ? (
        <p>No node has answered for evidence yet.</p>
      ) : entries.length === 0 ? (
        <p>
          <span class="badge ok">none</span> No validator has signed two conflicting messages, as
          recorded by the {asked} node{asked === 1 ? '' : 's'} answering.
        </p>
      ) : (
        <ScrollTable label="Equivocation evidence table">
          <table>
            <caption>
              Conflicting signed messages: each is proof that a validator misbehaved
            </caption>
            <TableHead
              columns={[
                'Validator',
                'Phase',
                'Height, view',
                'Signatures verified',
                'Recorded',
                'Reported by',
              ]}
            />
            <tbody>
              {entries.map(({ item, reporters }) => (
                <tr
                  key={`${item.validator}:${item.phase}:${item.height}:${item.view}`}
                  class="flagged"
                >
                  <th scope="row" title={item.validator}>
                    {orgLabel(validators.find((v) => v.publicKey === item.validator))}{' '}
                    <span class="mono">{shortKey(item.validator)}</span>
                  </th>
                  <td>{item.phase}</td>
                  <td>
                    {item.height}, {item.view ?? '—'}
                  </td>
                  <td>{item.verified ? 'yes' : 'no'}</td>
                  <td>{formatTime(item.recordedAt)}</td>
                  <td class="mono">{reporters.join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </ScrollTable>
      )}
    </Panel>
  );
}
