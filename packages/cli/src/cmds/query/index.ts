import {
  type AuditEntryJson,
  type BlockJson,
  type ConsentJson,
  type MedchainClient,
  type PageJson,
  parsePartyKey,
  type RecordJson,
  toDidKey,
  valueToJson,
} from '@medchain/client';
import { decodeCanonical, fromHex, toHex } from '@medchain/crypto';
import { type PageRequest, stateKeys } from '@medchain/ledger';
import type { Command } from 'commander';
import { hash32, hexBytes, integer } from '../../util/args.js';
import {
  clientOf,
  example,
  outputOf,
  type ReaderOptions,
  readerOf,
  withNode,
  withPassphrase,
  withReader,
} from '../../util/common.js';
import { CliError, usageError } from '../../util/errors.js';
import { readGenesis } from '../../util/home.js';
import { publicKeyArg } from '../../util/keys.js';
import { nodePackage } from '../../util/node-package.js';
import { fields, table } from '../../util/output.js';
import { READERS } from '../../util/readers.js';

const time = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
const short = (hex: string | null) => (hex === null ? '-' : `${hex.slice(0, 12)}…`);
const keyArg = (what: string) => (value: string) => toHex(publicKeyArg(value, what));
const hexId = (what: string) => (value: string) => toHex(hash32(what)(value));

interface PageOptions extends ReaderOptions {
  offset: number;
  limit: number;
  reverse?: boolean;
  provider?: string;
}

function withPage(cmd: Command): Command {
  return cmd
    .option('--offset <n>', 'first item', integer(0), 0)
    .option('--limit <n>', 'items per page (max 200)', integer(1, 200), 50)
    .option('--reverse', 'newest first');
}

const page = (o: PageOptions): PageRequest => ({
  offset: o.offset,
  limit: o.limit,
  ...(o.reverse === true ? { reverse: true } : {}),
});
const more = (answer: PageJson<unknown>) =>
  answer.nextOffset === null
    ? []
    : [`(${answer.total} in all; next page: --offset ${answer.nextOffset})`];

export function registerQuery(program: Command): void {
  const query = program
    .command('query')
    .description(
      "read the chain's committed state through a node's API (reads of party data are signed with --key)",
    );

  /**
   * One read command: `who` may sign it (undefined: a public read, no key); `read` asks the
   * node through a client acting for the reading key.
   */
  const get = <T>(
    name: string,
    description: string,
    args: [string, string, (value: string) => string],
    who: string | undefined,
    read: (client: MedchainClient, arg: string, options: PageOptions) => Promise<T>,
    render: (answer: T) => string[],
    exampleLine: string,
    paged = false,
  ) => {
    const base = query.command(name).description(description).argument(args[0], args[1], args[2]);
    const cmd = who === undefined ? withNode(base) : withReader(base, who);
    if (paged) withPage(cmd);
    example(cmd, exampleLine).action(
      async (arg: string, options: PageOptions, command: Command) => {
        const reader = who === undefined ? undefined : await readerOf(options, who);
        const answer = await read(clientOf(command, reader), arg, options);
        outputOf(command).result(answer, render as (value: never) => string[]);
      },
    );
    return cmd;
  };

  get(
    'patient',
    "a patient's entry and policy",
    ['<key>', 'patient public key (hex, did:key or keystore)', keyArg('patient')],
    READERS.patient,
    (client, key) => client.patient(key),
    (p) =>
      fields({
        key: p.key,
        did: toDidKey(parsePartyKey(p.key)),
        registeredAt: time(p.registeredAt),
        breakGlass: p.breakGlassOptOut ? 'opted out' : 'allowed',
        research: p.researchOptOut ? 'opted out' : 'allowed',
      }),
    'medchain query patient patient.json --key patient.json',
  );

  get(
    'consents',
    "a patient's consents, active and revoked (with --provider: those naming that provider or its organization)",
    ['<key>', 'patient public key (hex, did:key or keystore)', keyArg('patient')],
    READERS.consents,
    (client, key, o) =>
      o.provider === undefined
        ? client.consents(key, page(o))
        : client.providerConsents(o.provider, key, page(o)),
    (answer: PageJson<ConsentJson>) => [
      ...table(
        ['consent', 'status', 'grantee', 'actions', 'purposes', 'valid until'],
        answer.items.map((c) => [
          c.id,
          c.status,
          `${c.grantee.type}:${short(c.grantee.id)}`,
          c.actions.join(','),
          c.purposes.join(','),
          time(c.validUntil),
        ]),
      ),
      ...more(answer),
    ],
    'medchain query consents patient.json --key patient.json',
    true,
  ).option(
    '--provider <key>',
    'only the consents naming this provider or its organization (signed by it or its admin)',
    keyArg('--provider'),
  );

  get(
    'audit',
    "a patient's audit trail: every logged access decision, break-glass flagged",
    ['<key>', 'patient public key (hex, did:key or keystore)', keyArg('patient')],
    READERS.patientData,
    (client, key, o) => client.audit(key, page(o)),
    (answer: PageJson<AuditEntryJson>) => [
      ...table(
        ['#', 'time', 'requester', 'record', 'purpose', 'decision', 'note'],
        answer.items.map((e) => [
          String(e.index),
          time(e.time),
          short(e.requester),
          short(e.recordId),
          e.purpose,
          e.decision,
          e.emergency
            ? `BREAK-GLASS (${e.emergencyReason})`
            : (e.denyReason ?? (e.consentId ? `consent ${short(e.consentId)}` : '')),
        ]),
      ),
      ...more(answer),
    ],
    'medchain query audit patient.json --key patient.json --reverse',
    true,
  );

  get(
    'records',
    'the records anchored for a patient',
    ['<key>', 'patient public key (hex, did:key or keystore)', keyArg('patient')],
    READERS.patientData,
    (client, key, o) => client.patientRecords(key, page(o)),
    (answer: PageJson<RecordJson>) => [
      ...table(
        ['record', 'type', 'version', 'custodian', 'erased'],
        answer.items.map((r) => [
          r.id,
          r.resourceType,
          String(r.version),
          short(r.custodian),
          r.erased ? 'yes' : 'no',
        ]),
      ),
      ...more(answer),
    ],
    'medchain query records patient.json --key patient.json',
    true,
  );

  get(
    'record',
    "a record's anchor and its version history",
    ['<id>', 'record id', hexId('a record id')],
    READERS.record,
    (client, id, o) => client.record(id, page(o)),
    (r) => [
      ...fields({
        id: r.record.id,
        patient: r.record.patient,
        custodian: r.record.custodian,
        type: r.record.resourceType,
        version: String(r.record.version),
        erased: r.record.erased ? 'yes' : 'no',
      }),
      '',
      ...table(
        ['version', 'content hash', 'author', 'time', 'tx'],
        r.versions.items.map((v) => [
          String(v.version),
          v.contentHash,
          short(v.author),
          time(v.time),
          short(v.txHash),
        ]),
      ),
    ],
    'medchain query record 77ab... --key patient.json',
    true,
  );

  get(
    'consent',
    'one consent by id',
    ['<id>', 'consent id', hexId('a consent id')],
    READERS.consent,
    (client, id) => client.consent(id),
    (c) =>
      fields({
        id: c.id,
        patient: c.patient,
        grantee: `${c.grantee.type} ${c.grantee.id}`,
        status: c.status,
        records: c.recordIds.join(',') || '-',
        types: c.resourceTypes.join(',') || '-',
        actions: c.actions.join(','),
        purposes: c.purposes.join(','),
        validFrom: time(c.validFrom),
        validUntil: time(c.validUntil),
        revokedAt: time(c.revokedAt),
      }),
    'medchain query consent c0ff... --key dr-bob.json',
  );

  get(
    'provider',
    'a provider: organization, role, status',
    ['<key>', 'provider public key (hex, did:key or keystore)', keyArg('provider')],
    READERS.provider,
    (client, key) => client.provider(key),
    (p) =>
      fields({
        key: p.key,
        did: toDidKey(parsePartyKey(p.key)),
        org: p.org,
        role: p.role,
        status: p.status,
        registeredAt: time(p.registeredAt),
      }),
    'medchain query provider dr-ada.json --key dr-ada.json',
  );

  get(
    'organization',
    'an organization and its providers',
    ['<id>', 'organization id', hexId('an organization id')],
    READERS.organization,
    (client, id, o) => client.organization(id, page(o)),
    (r) => [
      ...fields({
        id: r.organization.id,
        status: r.organization.status,
        validatorKey: r.organization.validatorKey,
        peerId: r.organization.peerId,
      }),
      '',
      ...table(
        ['provider', 'role', 'status'],
        r.providers.items.map((p) => [p.key, p.role, p.status]),
      ),
    ],
    'medchain query organization 51c0... --key a-admin.json',
    true,
  );

  example(
    withNode(query.command('organizations').description('the member organizations (public)')),
    'medchain query organizations',
  ).action(async (_options: unknown, cmd: Command) => {
    const answer = await clientOf(cmd).organizations();
    outputOf(cmd).result(answer, (r: typeof answer) =>
      table(
        ['organization', 'status', 'validator key', 'peer id'],
        r.items.map((o) => [o.id, o.status, short(o.validatorKey), o.peerId]),
      ),
    );
  });

  get(
    'block',
    'a committed block with its certificate and receipts',
    [
      '[height]',
      'block height, or latest (default)',
      (v: string) => {
        if (v !== 'latest' && !/^[1-9]\d{0,15}$/.test(v))
          throw usageError(
            `block height must be a positive integer or "latest", got ${JSON.stringify(v)}`,
          );
        return v;
      },
    ],
    READERS.members,
    (client, height) =>
      height === undefined || height === 'latest'
        ? client.latestBlock()
        : client.block(Number(height)),
    (b: BlockJson) => [
      ...fields({
        height: String(b.header.height),
        hash: b.hash,
        time: time(b.header.time),
        proposer: b.header.proposer,
        txs: String(b.txs.length),
        stateRoot: `${b.header.stateRoot} (after block ${b.header.height - 1})`,
        certificate:
          b.certificate === null
            ? 'none yet'
            : `${b.certificate.votes.length} commit votes, view ${b.certificate.view}`,
      }),
      ...(b.txs.length > 0
        ? [
            '',
            ...table(
              ['tx', 'kind', 'receipt'],
              b.txs.map((t, i) => [t.hash, t.kind, b.receipts[i]?.code ?? '?']),
            ),
          ]
        : []),
    ],
    'medchain query block 12 --key a-admin.json',
  );

  get(
    'tx',
    "a transaction's status and receipt",
    ['<hash>', 'transaction hash', hexId('a transaction hash')],
    READERS.tx,
    (client, hash) => client.tx(hash),
    (t) =>
      fields({
        hash: t.tx.hash,
        kind: t.tx.kind,
        signer: t.tx.signer,
        nonce: String(t.tx.nonce),
        status: t.status,
        ...(t.status === 'committed'
          ? {
              height: String(t.height),
              receipt: `${t.receipt.code}${t.receipt.message ? ` ${t.receipt.message}` : ''}`,
            }
          : {}),
      }),
    'medchain query tx 5b2e... --key patient.json',
  );

  example(
    withPassphrase(
      withNode(
        query
          .command('proof')
          .description(
            'fetch a state proof and verify it locally, trusting only the genesis file: the light client follows every validator-set change from genesis to the certified header (exit 1 if it does not verify)',
          )
          .option('--consent <id>', 'prove a consent entry', hexBytes(32, 'a consent id'))
          .option('--patient <key>', 'prove a patient entry (policy)', (v: string) =>
            publicKeyArg(v, '--patient'),
          )
          .option('--record <id>', 'prove a record anchor', hexBytes(32, 'a record id'))
          .option(
            '--state-key <hex>',
            'prove any state key (ledger stateKeys bytes)',
            (v: string) => {
              if (!/^([0-9a-f]{2})+$/.test(v))
                throw usageError('--state-key must be lowercase hex');
              return fromHex(v);
            },
          )
          .option('--genesis <file>', 'trusted genesis file')
          .option('--home <dir>', 'use <dir>/genesis.json as the trusted genesis')
          .option('--key <keystore>', `keystore that signs the read (${READERS.proof})`),
      ),
    ),
    'medchain query proof --consent c0ff... --genesis genesis.json --key patient.json',
  ).action(
    async (
      options: ReaderOptions & {
        consent?: Uint8Array;
        patient?: Uint8Array;
        record?: Uint8Array;
        stateKey?: Uint8Array;
        genesis?: string;
        home?: string;
      },
      cmd: Command,
    ) => {
      const keys = [
        options.consent && stateKeys.consent(options.consent),
        options.patient && stateKeys.patient(options.patient),
        options.record && stateKeys.record(options.record),
        options.stateKey,
      ].filter((k): k is Uint8Array => k !== undefined);
      if (keys.length !== 1)
        throw usageError('give exactly one of --consent, --patient, --record, --state-key');
      const genesisPath =
        options.genesis ??
        (options.home === undefined
          ? undefined
          : `${options.home}/${(await nodePackage()).GENESIS_FILE}`);
      if (genesisPath === undefined)
        throw usageError('give the trusted genesis with --genesis FILE or --home DIR');
      const genesis = readGenesis(genesisPath);
      const key = keys[0]!;
      const reader = options.key === undefined ? undefined : await readerOf(options, READERS.proof);
      const client = clientOf(cmd, reader);
      const light = client.lightClient(genesis);
      const check = await light.checkStateProof(await client.stateProof(key), key);
      const decoded =
        check.value === null ? null : valueToJson(decodeCanonical(fromHex(check.value)));
      const result = {
        ...check,
        key: toHex(key),
        decoded,
        validatorSetChanges: light.validatorSetChanges,
      };
      outputOf(cmd).result(result, (r: typeof result) => [
        ...r.steps.map((s) => `${s.ok ? 'ok  ' : 'FAIL'} ${s.check}`),
        '',
        ...fields({
          verified: r.verified ? 'yes' : 'NO',
          height: `${r.height} (state after this block)`,
          anchoredBy: r.anchoredBy,
          validatorSetChanges: `${r.validatorSetChanges} followed from genesis`,
          value: r.decoded === null ? 'absent (non-inclusion proven)' : JSON.stringify(r.decoded),
        }),
      ]);
      if (!check.verified) {
        throw new CliError(
          'PROOF_INVALID',
          'the state proof did not verify against the trusted genesis',
          {
            hint: 'do not trust this node for this answer; ask another node',
          },
        );
      }
    },
  );
}
