import { decodeCanonical, fromHex, toHex } from '@medchain/crypto';
import { stateKeys } from '@medchain/ledger';
import type { Command } from 'commander';
import { hash32, hexBytes, integer } from '../../util/args.js';
import type { ApiJson } from '../../util/client.js';
import { clientOf, example, outputOf, withNode } from '../../util/common.js';
import { valueToJson } from '../../util/entries.js';
import { CliError, usageError } from '../../util/errors.js';
import { readGenesis } from '../../util/home.js';
import { publicKeyArg } from '../../util/keys.js';
import { nodePackage } from '../../util/node-package.js';
import { fields, table } from '../../util/output.js';
import { checkStateProof, type ProofCheck } from '../../util/proof.js';

const time = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
const short = (hex: string | null) => (hex === null ? '-' : `${hex.slice(0, 12)}…`);
const keyArg = (what: string) => (value: string) => toHex(publicKeyArg(value, what));
const hexId = (what: string) => (value: string) => toHex(hash32(what)(value));

interface PageOptions {
  offset: number;
  limit: number;
  reverse?: boolean;
}

function withPage(cmd: Command): Command {
  return cmd
    .option('--offset <n>', 'first item', integer(0), 0)
    .option('--limit <n>', 'items per page (max 200)', integer(1, 200), 50)
    .option('--reverse', 'newest first');
}

const pageQuery = (o: PageOptions) =>
  `?offset=${o.offset}&limit=${o.limit}&reverse=${o.reverse === true}`;
const more = (page: ApiJson) =>
  page.nextOffset === null
    ? []
    : [`(${page.total} in all; next page: --offset ${page.nextOffset})`];

export function registerQuery(program: Command): void {
  const query = program
    .command('query')
    .description("read the chain's committed state through a node's API");

  const get = (
    name: string,
    description: string,
    args: [string, string, (value: string) => string],
    path: (arg: string, options: PageOptions) => string,
    render: (answer: ApiJson) => string[],
    exampleLine: string,
    paged = false,
  ) => {
    const cmd = withNode(
      query.command(name).description(description).argument(args[0], args[1], args[2]),
    );
    if (paged) withPage(cmd);
    example(cmd, exampleLine).action(
      async (arg: string, options: PageOptions, command: Command) => {
        const answer = await clientOf(command).get(path(arg, options));
        outputOf(command).result(answer, render);
      },
    );
  };

  get(
    'patient',
    "a patient's entry and policy",
    ['<key>', 'patient public key (hex or keystore)', keyArg('patient')],
    (key) => `/patients/${key}`,
    (p) =>
      fields({
        key: p.key,
        registeredAt: time(p.registeredAt),
        breakGlass: p.breakGlassOptOut ? 'opted out' : 'allowed',
        research: p.researchOptOut ? 'opted out' : 'allowed',
      }),
    'medchain query patient patient.json',
  );

  get(
    'consents',
    "a patient's consents, active and revoked",
    ['<key>', 'patient public key (hex or keystore)', keyArg('patient')],
    (key, o) => `/patients/${key}/consents${pageQuery(o)}`,
    (page) => [
      ...table(
        ['consent', 'status', 'grantee', 'actions', 'purposes', 'valid until'],
        page.items.map((c: ApiJson) => [
          c.id,
          c.status,
          `${c.grantee.type}:${short(c.grantee.id)}`,
          c.actions.join(','),
          c.purposes.join(','),
          time(c.validUntil),
        ]),
      ),
      ...more(page),
    ],
    'medchain query consents patient.json',
    true,
  );

  get(
    'audit',
    "a patient's audit trail: every logged access decision, break-glass flagged",
    ['<key>', 'patient public key (hex or keystore)', keyArg('patient')],
    (key, o) => `/patients/${key}/audit${pageQuery(o)}`,
    (page) => [
      ...table(
        ['#', 'time', 'requester', 'record', 'purpose', 'decision', 'note'],
        page.items.map((e: ApiJson) => [
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
      ...more(page),
    ],
    'medchain query audit patient.json --reverse',
    true,
  );

  get(
    'records',
    'the records anchored for a patient',
    ['<key>', 'patient public key (hex or keystore)', keyArg('patient')],
    (key, o) => `/patients/${key}/records${pageQuery(o)}`,
    (page) => [
      ...table(
        ['record', 'type', 'version', 'custodian', 'erased'],
        page.items.map((r: ApiJson) => [
          r.id,
          r.resourceType,
          String(r.version),
          short(r.custodian),
          r.erased ? 'yes' : 'no',
        ]),
      ),
      ...more(page),
    ],
    'medchain query records patient.json',
    true,
  );

  get(
    'record',
    "a record's anchor and its version history",
    ['<id>', 'record id', hexId('a record id')],
    (id, o) => `/records/${id}${pageQuery(o)}`,
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
        r.versions.items.map((v: ApiJson) => [
          String(v.version),
          v.contentHash,
          short(v.author),
          time(v.time),
          short(v.txHash),
        ]),
      ),
    ],
    'medchain query record 77ab...',
    true,
  );

  get(
    'consent',
    'one consent by id',
    ['<id>', 'consent id', hexId('a consent id')],
    (id) => `/consents/${id}`,
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
    'medchain query consent c0ff...',
  );

  get(
    'provider',
    'a provider: organization, role, status',
    ['<key>', 'provider public key (hex or keystore)', keyArg('provider')],
    (key) => `/providers/${key}`,
    (p) =>
      fields({
        key: p.key,
        org: p.org,
        role: p.role,
        status: p.status,
        registeredAt: time(p.registeredAt),
      }),
    'medchain query provider dr-ada.json',
  );

  get(
    'organization',
    'an organization and its providers',
    ['<id>', 'organization id', hexId('an organization id')],
    (id, o) => `/organizations/${id}${pageQuery(o)}`,
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
        r.providers.items.map((p: ApiJson) => [p.key, p.role, p.status]),
      ),
    ],
    'medchain query organization 51c0...',
    true,
  );

  example(
    withNode(query.command('organizations').description('the member organizations')),
    'medchain query organizations',
  ).action(async (_options: unknown, cmd: Command) => {
    const answer = await clientOf(cmd).get('/organizations');
    outputOf(cmd).result(answer, (r: ApiJson) =>
      table(
        ['organization', 'status', 'validator key', 'peer id'],
        r.items.map((o: ApiJson) => [o.id, o.status, short(o.validatorKey), o.peerId]),
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
    (height) => `/blocks/${height ?? 'latest'}`,
    (b) => [
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
              b.txs.map((t: ApiJson, i: number) => [t.hash, t.kind, b.receipts[i]?.code ?? '?']),
            ),
          ]
        : []),
    ],
    'medchain query block 12',
  );

  get(
    'tx',
    "a transaction's status and receipt",
    ['<hash>', 'transaction hash', hexId('a transaction hash')],
    (hash) => `/tx/${hash}`,
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
    'medchain query tx 5b2e...',
  );

  example(
    withNode(
      query
        .command('proof')
        .description(
          'fetch a state proof and verify it locally against a certified header, trusting only the genesis file (exit 1 if it does not verify)',
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
            if (!/^([0-9a-f]{2})+$/.test(v)) throw usageError('--state-key must be lowercase hex');
            return fromHex(v);
          },
        )
        .option('--genesis <file>', 'trusted genesis file')
        .option('--home <dir>', 'use <dir>/genesis.json as the trusted genesis'),
    ),
    'medchain query proof --consent c0ff... --genesis genesis.json',
  ).action(
    async (
      options: {
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
      const answer = await clientOf(cmd).get(`/state/proof?key=${toHex(key)}`);
      const check = checkStateProof(answer, key, genesis);
      const decoded =
        check.value === null ? null : valueToJson(decodeCanonical(fromHex(check.value)));
      outputOf(cmd).result(
        { ...check, key: toHex(key), decoded },
        (r: ProofCheck & { decoded: unknown }) => [
          ...r.steps.map((s) => `${s.ok ? 'ok  ' : 'FAIL'} ${s.check}`),
          '',
          ...fields({
            verified: r.verified ? 'yes' : 'NO',
            height: `${r.height} (state after this block)`,
            anchoredBy: r.anchoredBy,
            value: r.decoded === null ? 'absent (non-inclusion proven)' : JSON.stringify(r.decoded),
          }),
        ],
      );
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
