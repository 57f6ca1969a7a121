import {
  ValidatorSet,
  verifyCommitCertificate,
  verifyEquivocation,
  voteSigningHash,
} from '@medchain/consensus';
import { decodeCanonical, fromHex, Signer, toHex, verify } from '@medchain/crypto';
import {
  decodeStateProof,
  encodeTransaction,
  headerHash,
  MAX_TX_BYTES,
  type PatientEntry,
  signTransaction,
  stateKeys,
  type Transaction,
  transactionHash,
  validatorSetHash,
  validatorsFromState,
  verifyStateProof,
} from '@medchain/ledger';
import { afterEach, describe, expect, it } from 'vitest';
import { type ApiServer, createApiServer } from '../src/api/index.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import {
  accessRequest,
  bytes,
  CHAIN_ID,
  LedgerBackend,
  populatedBackend,
  signer,
} from './api-chain.js';

type Body = Record<string, unknown> & { error?: { code: string; message: string } };

const servers: ApiServer[] = [];

function serve(backend: LedgerBackend, bodyLimit?: number) {
  const metrics = createMetrics();
  // The handlers' answers, without request signatures: who may call what is tested over real
  // HTTP with signed requests in auth.test.ts.
  const server = createApiServer({
    backend,
    logger: createLogger({ level: 'silent' }),
    metrics,
    port: 0,
    auth: 'off',
    genesis: backend.doc,
    ...(bodyLimit === undefined ? {} : { bodyLimit }),
  });
  servers.push(server);
  const request = async (
    method: 'GET' | 'POST',
    url: string,
    payload?: string | Buffer | object,
    contentType?: string,
  ) => {
    const response = await server.fastify.inject({
      method,
      url,
      ...(payload === undefined ? {} : { payload }),
      ...(contentType === undefined ? {} : { headers: { 'content-type': contentType } }),
    });
    const isJson = response.headers['content-type']?.toString().startsWith('application/json');
    return {
      status: response.statusCode,
      headers: response.headers,
      body: (isJson ? response.json() : {}) as Body,
      text: response.body,
    };
  };
  return {
    server,
    metrics,
    get: (url: string) => request('GET', url),
    post: (url: string, payload: string | Buffer | object, contentType = 'application/json') =>
      request('POST', url, payload, contentType),
  };
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const hex = toHex;

describe('status and health', () => {
  it('reports height, last block hash, the committed state root, view, validators, peers, syncing', async () => {
    const { backend } = populatedBackend();
    const api = serve(backend);
    expect((await api.get('/v1/health')).body).toEqual({ status: 'ok' });
    const { status, body } = await api.get('/v1/status');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      chainId: CHAIN_ID,
      height: 3,
      lastBlockHash: hex(headerHash(backend.blocks[2]!.block.header)),
      stateRoot: hex(backend.ledger.root()),
      view: 0,
      syncing: false,
      mempoolSize: 0,
    });
    expect(body.peers).toHaveLength(3);
    const validators = body.validators as Array<{ publicKey: string }>;
    expect(validators.map((v) => v.publicKey).sort()).toEqual(
      backend.orgs.map((org) => hex(org.validator.publicKey)).sort(),
    );
  });
});

describe('GET /v1/consensus/evidence', () => {
  it('serves an empty list on an honest network, then each equivocation with hex fields', async () => {
    const backend = new LedgerBackend();
    const api = serve(backend);
    expect((await api.get('/v1/consensus/evidence')).body).toEqual({ items: [], total: 0 });
    const culprit = backend.orgs[1]!.validator;
    const signed = (fill: number) => {
      const digest = new Uint8Array(32).fill(fill);
      return {
        digest,
        signature: culprit.sign(voteSigningHash(CHAIN_ID, 'prepare', 4, 2, digest)),
      };
    };
    const evidence = {
      validator: culprit.publicKey,
      phase: 'prepare' as const,
      height: 4,
      view: 2,
      first: signed(1),
      second: signed(2),
    };
    const validators = backend.orgs.map((org) => org.validator.publicKey);
    const verified = verifyEquivocation(CHAIN_ID, evidence, validators, { verify });
    expect(verified).toBe(true);
    backend.equivocations.push({ evidence, verified, recordedAt: 1_750_000_000_123 });
    const { status, body } = await api.get('/v1/consensus/evidence');
    expect(status).toBe(200);
    expect(body).toEqual({
      items: [
        {
          validator: hex(culprit.publicKey),
          phase: 'prepare',
          height: 4,
          view: 2,
          first: { digest: hex(evidence.first.digest), signature: hex(evidence.first.signature) },
          second: {
            digest: hex(evidence.second.digest),
            signature: hex(evidence.second.signature),
          },
          verified: true,
          recordedAt: 1_750_000_000_123,
        },
      ],
      total: 1,
    });
    expect((await api.get('/v1/consensus/evidence?limit=1')).status).toBe(400);
  });
});

describe('POST /v1/tx and GET /v1/tx/:hash', () => {
  it('admits a transaction as JSON hex, shows it pending, then committed with its receipt', async () => {
    const backend = new LedgerBackend();
    const api = serve(backend);
    const patient = signer('patient/carol');
    const tx = backend.sign(patient, 'patient.register', {});
    const hash = hex(transactionHash(tx));
    const submitted = await api.post('/v1/tx', { tx: hex(encodeTransaction(tx)) });
    expect(submitted).toMatchObject({ status: 202, body: { hash } });
    expect((await api.get(`/v1/tx/${hash}`)).body).toMatchObject({
      status: 'pending',
      tx: { hash, kind: 'patient.register', signer: hex(patient.publicKey), nonce: 1 },
    });
    backend.commit();
    const committed = await api.get(`/v1/tx/${hash}`);
    expect(committed.body).toEqual({
      status: 'committed',
      tx: {
        hash,
        chainId: CHAIN_ID,
        kind: 'patient.register',
        body: {},
        signer: hex(patient.publicKey),
        nonce: 1,
        signature: hex(tx.signature),
      },
      height: 1,
      index: 0,
      receipt: { txHash: hash, code: 'OK', message: '' },
    });
    expect((await api.get(`/v1/patients/${hex(patient.publicKey)}`)).status).toBe(200);
  });

  it('admits raw application/octet-stream bytes too', async () => {
    const backend = new LedgerBackend();
    const api = serve(backend);
    const tx = backend.sign(signer('patient/dan'), 'patient.register', {});
    const submitted = await api.post(
      '/v1/tx',
      Buffer.from(encodeTransaction(tx)),
      'application/octet-stream',
    );
    expect(submitted).toMatchObject({ status: 202, body: { hash: hex(transactionHash(tx)) } });
    expect(backend.mempool.size).toBe(1);
  });

  it('maps each mempool refusal to its status and code', async () => {
    const backend = new LedgerBackend();
    const api = serve(backend);
    const eve = signer('patient/eve');
    const post = (tx: Parameters<typeof encodeTransaction>[0]) =>
      api.post('/v1/tx', { tx: hex(encodeTransaction(tx)) });
    const first = backend.sign(eve, 'patient.register', {});
    expect((await post(first)).status).toBe(202);
    expect((await post(first)).body.error?.code).toBe('DUPLICATE');
    expect((await post(first)).status).toBe(409);
    backend.commit();
    const reused = signTransaction(
      { chainId: CHAIN_ID, kind: 'patient.register', body: {}, signer: eve.publicKey, nonce: 1 },
      new Signer(bytes('other-seed')),
    );
    expect(await post(reused)).toMatchObject({
      status: 400,
      body: { error: { code: 'BAD_SIGNATURE' } },
    });
    const replay = signTransaction(
      {
        chainId: CHAIN_ID,
        kind: 'patient.policy',
        body: { patient: eve.publicKey, breakGlassOptOut: true, researchOptOut: false },
        signer: eve.publicKey,
        nonce: 1,
      },
      eve,
    );
    expect(await post(replay)).toMatchObject({
      status: 409,
      body: { error: { code: 'BAD_NONCE' } },
    });
    const otherChain = signTransaction(
      {
        chainId: 'other-chain',
        kind: 'patient.register',
        body: {},
        signer: eve.publicKey,
        nonce: 2,
      },
      eve,
    );
    expect(await post(otherChain)).toMatchObject({
      status: 400,
      body: { error: { code: 'WRONG_CHAIN' } },
    });
    const garbage = await api.post('/v1/tx', { tx: 'c0ffee' });
    expect(garbage).toMatchObject({ status: 400, body: { error: { code: 'MALFORMED' } } });
    const huge = await api.post('/v1/tx', { tx: '00'.repeat(MAX_TX_BYTES + 1) });
    expect(huge).toMatchObject({ status: 413, body: { error: { code: 'TOO_LARGE' } } });
    backend.mempoolCapacity = 0;
    const full = await post(backend.sign(signer('patient/fay'), 'patient.register', {}));
    expect(full).toMatchObject({ status: 503, body: { error: { code: 'MEMPOOL_FULL' } } });
    expect(full.headers['retry-after']).toBe('1');
  });

  it('refuses malformed requests with 4xx and a message, before the backend sees them', async () => {
    const backend = new LedgerBackend();
    const api = serve(backend, 4096);
    const cases: Array<[string | object | Buffer, string, number, string]> = [
      [{ tx: 'abc' }, 'application/json', 400, 'BAD_REQUEST'],
      [{ tx: 'ABCD' }, 'application/json', 400, 'BAD_REQUEST'],
      [{ tx: '' }, 'application/json', 400, 'BAD_REQUEST'],
      [{}, 'application/json', 400, 'BAD_REQUEST'],
      [{ tx: '00', extra: 1 }, 'application/json', 400, 'BAD_REQUEST'],
      [{ tx: 7 }, 'application/json', 400, 'BAD_REQUEST'],
      ['{"tx": "00"', 'application/json', 400, 'BAD_REQUEST'],
      ['[]', 'application/json', 400, 'BAD_REQUEST'],
      ['00', 'text/plain', 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['00', 'multipart/form-data; boundary=x', 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [Buffer.alloc(0), 'application/octet-stream', 400, 'BAD_REQUEST'],
      [{ tx: '00'.repeat(4096) }, 'application/json', 413, 'PAYLOAD_TOO_LARGE'],
      [Buffer.alloc(5000), 'application/octet-stream', 413, 'PAYLOAD_TOO_LARGE'],
    ];
    for (const [payload, contentType, status, code] of cases) {
      const response = await api.post('/v1/tx', payload, contentType);
      expect({ payload, status: response.status, code: response.body.error?.code }).toEqual({
        payload,
        status,
        code,
      });
      expect(response.body.error?.message.length).toBeGreaterThan(5);
    }
    expect(backend.mempool.size).toBe(0);
  });

  it('answers 404 for an unknown transaction and 400 for a malformed hash', async () => {
    const api = serve(new LedgerBackend());
    expect((await api.get(`/v1/tx/${'ab'.repeat(32)}`)).body.error?.code).toBe('TX_NOT_FOUND');
    for (const bad of ['ab', 'AB'.repeat(32), `${'ab'.repeat(32)}00`, 'zz'.repeat(32)]) {
      const response = await api.get(`/v1/tx/${bad}`);
      expect(response.status).toBe(400);
      expect(response.body.error?.message).toContain('hash');
    }
  });
});

describe('blocks', () => {
  it('serves each block with transactions, receipts and a commit certificate that verifies', async () => {
    const world = populatedBackend();
    const api = serve(world.backend);
    const latest = await api.get('/v1/blocks/latest');
    const third = await api.get('/v1/blocks/3');
    expect(latest.body).toEqual(third.body);
    const block = third.body as {
      hash: string;
      header: { height: number; parentHash: string };
      txs: Array<{ hash: string; kind: string }>;
      receipts: Array<{ code: string }>;
      certificate: {
        height: number;
        view: number;
        digest: string;
        votes: Array<{ from: string; signature: string }>;
      };
    };
    expect(block.header.height).toBe(3);
    expect(block.hash).toBe(hex(world.logged.hash));
    expect(block.txs.map((t) => [t.hash, t.kind])).toEqual([
      [hex(transactionHash(world.access)), 'access.log'],
    ]);
    expect(block.receipts.map((r) => r.code)).toEqual(['OK']);
    const second = await api.get('/v1/blocks/2');
    expect(block.header.parentHash).toBe(second.body.hash);
    const certificate = {
      height: block.certificate.height,
      view: block.certificate.view,
      digest: fromHex(block.certificate.digest),
      votes: block.certificate.votes.map((v) => ({
        from: fromHex(v.from),
        signature: fromHex(v.signature),
      })),
    };
    const validators = world.backend.orgs.map((org) => org.validator.publicKey);
    expect(
      verifyCommitCertificate(CHAIN_ID, certificate, new ValidatorSet(validators), { verify }),
    ).toBe(true);
    expect(hex(certificate.digest)).toBe(block.hash);
  });

  it('answers 404 above the chain and for latest on a genesis-only chain; 400 for bad heights', async () => {
    const world = populatedBackend();
    const api = serve(world.backend);
    expect((await api.get('/v1/blocks/4')).body.error?.code).toBe('BLOCK_NOT_FOUND');
    for (const bad of ['0', '-1', '1.5', 'abc', '9007199254740992', '1e3', '01', '+1', ' 1']) {
      expect({ bad, status: (await api.get(`/v1/blocks/${bad}`)).status }).toEqual({
        bad,
        status: 400,
      });
    }
    const empty = serve(new LedgerBackend());
    expect((await empty.get('/v1/blocks/latest')).status).toBe(404);
  });
});

describe('patients, consents, audit, records', () => {
  it('serves a patient with its policy, consents, audit trail and records', async () => {
    const world = populatedBackend();
    const api = serve(world.backend);
    const alice = hex(world.alice.publicKey);
    expect((await api.get(`/v1/patients/${alice}`)).body).toEqual({
      key: alice,
      registeredAt: world.backend.blocks[0]!.block.header.time,
      breakGlassOptOut: false,
      researchOptOut: false,
    });
    const consents = await api.get(`/v1/patients/${alice}/consents`);
    expect(consents.body).toMatchObject({
      total: 1,
      nextOffset: null,
      items: [
        {
          id: hex(world.consentId),
          patient: alice,
          grantee: { type: 'provider', id: hex(world.bClinician.publicKey) },
          status: 'active',
          revokedAt: null,
        },
      ],
    });
    expect((await api.get(`/v1/consents/${hex(world.consentId)}`)).body).toEqual(
      (consents.body.items as unknown[])[0],
    );
    const audit = await api.get(`/v1/patients/${alice}/audit`);
    expect(audit.body).toMatchObject({
      total: 1,
      items: [
        {
          index: 0,
          patient: alice,
          recordId: hex(world.record),
          requester: hex(world.bClinician.publicKey),
          decision: 'permit',
          consentId: hex(world.consentId),
          emergency: false,
          txHash: hex(transactionHash(world.access)),
        },
      ],
    });
    const records = await api.get(`/v1/patients/${alice}/records`);
    expect(records.body).toMatchObject({
      total: 1,
      items: [{ id: hex(world.record), version: 1 }],
    });
  });

  it('pages lists with offset, limit and reverse, and refuses out-of-range paging', async () => {
    const world = populatedBackend();
    const { backend, alice, bClinician } = world;
    for (let i = 0; i < 4; i++) {
      const ok = backend.submitTransaction(
        encodeTransaction(
          backend.sign(alice, 'consent.grant', {
            patient: alice.publicKey,
            grantee: { type: 'provider', id: bClinician.publicKey },
            recordIds: [],
            resourceTypes: [`Type${'abcd'[i]}`],
            actions: ['access'],
            purposes: ['TREAT'],
            validFrom: backend.time,
            validUntil: backend.time + 1000 * (i + 10),
          }),
        ),
      );
      expect(ok.accepted).toBe(true);
    }
    backend.commit();
    const api = serve(backend);
    const base = `/v1/patients/${hex(alice.publicKey)}/consents`;
    const types = (body: Body) =>
      (body.items as Array<{ resourceTypes: string[] }>).map((c) => c.resourceTypes[0]);
    const first = await api.get(`${base}?limit=2`);
    expect(first.body).toMatchObject({ total: 5, nextOffset: 2 });
    expect(types(first.body)).toEqual(['Observation', 'Typea']);
    const last = await api.get(`${base}?offset=4&limit=2`);
    expect(last.body).toMatchObject({ total: 5, nextOffset: null });
    expect(types(last.body)).toEqual(['Typed']);
    expect(types((await api.get(`${base}?reverse=true&limit=3`)).body)).toEqual([
      'Typed',
      'Typec',
      'Typeb',
    ]);
    expect((await api.get(`${base}?offset=99`)).body).toMatchObject({
      items: [],
      total: 5,
      nextOffset: null,
    });
    for (const bad of [
      'limit=0',
      'limit=201',
      'offset=-1',
      'limit=x',
      'reverse=maybe',
      'page=2',
      'limit=1&limit=2',
    ]) {
      const response = await api.get(`${base}?${bad}`);
      expect({ bad, status: response.status }).toEqual({ bad, status: 400 });
    }
  });

  it('serves a record with its version history, and delegates one by one', async () => {
    const world = populatedBackend();
    const { backend, clinician, alice } = world;
    const guardian = signer('guardian/alice');
    for (const tx of [
      backend.sign(clinician, 'record.amend', {
        recordId: world.record,
        contentHash: bytes('alice-observation-v2'),
      }),
      backend.sign(alice, 'patient.delegate', {
        patient: alice.publicKey,
        delegate: guardian.publicKey,
        relation: 'guardian',
        expiresAt: backend.time + 86_400_000,
      }),
    ]) {
      expect(backend.submitTransaction(encodeTransaction(tx)).accepted).toBe(true);
    }
    expect(backend.commit().receipts.map((r) => r.code)).toEqual(['OK', 'OK']);
    const api = serve(backend);
    const record = await api.get(`/v1/records/${hex(world.record)}?reverse=true`);
    expect(record.body).toMatchObject({
      record: {
        id: hex(world.record),
        version: 2,
        contentHash: hex(bytes('alice-observation-v2')),
        erased: false,
      },
      versions: {
        total: 2,
        items: [
          { version: 2, previousHash: hex(bytes('alice-observation-v1')) },
          { version: 1, previousHash: null, author: hex(clinician.publicKey) },
        ],
      },
    });
    const delegate = await api.get(
      `/v1/patients/${hex(alice.publicKey)}/delegates/${hex(guardian.publicKey)}`,
    );
    expect(delegate.body).toMatchObject({
      relation: 'guardian',
      delegate: hex(guardian.publicKey),
    });
    const stranger = hex(signer('stranger').publicKey);
    expect(
      (await api.get(`/v1/patients/${hex(alice.publicKey)}/delegates/${stranger}`)).status,
    ).toBe(404);
  });

  it('answers 404 with a code for unknown patients, records and consents', async () => {
    const api = serve(populatedBackend().backend);
    const nobody = hex(signer('nobody').publicKey);
    for (const [url, code] of [
      [`/v1/patients/${nobody}`, 'PATIENT_NOT_FOUND'],
      [`/v1/patients/${nobody}/consents`, 'PATIENT_NOT_FOUND'],
      [`/v1/patients/${nobody}/audit`, 'PATIENT_NOT_FOUND'],
      [`/v1/patients/${nobody}/records`, 'PATIENT_NOT_FOUND'],
      [`/v1/records/${nobody}`, 'RECORD_NOT_FOUND'],
      [`/v1/consents/${nobody}`, 'CONSENT_NOT_FOUND'],
      [`/v1/providers/${nobody}`, 'PROVIDER_NOT_FOUND'],
      [`/v1/organizations/${nobody}`, 'ORGANIZATION_NOT_FOUND'],
    ]) {
      const response = await api.get(url!);
      expect({ url, status: response.status, code: response.body.error?.code }).toEqual({
        url,
        status: 404,
        code,
      });
    }
  });
});

describe('light-client routes: headers, genesis, validator sets', () => {
  it('serves a certified header without transactions, and the genesis with its hash', async () => {
    const { backend } = populatedBackend();
    const api = serve(backend);
    const answer = await api.get('/v1/headers/2');
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.body).sort()).toEqual(['certificate', 'hash', 'header']);
    const stored = backend.block(2)!;
    expect(answer.body.hash).toBe(hex(headerHash(stored.block.header)));
    expect(answer.body.certificate).toMatchObject({ height: 2, digest: hex(stored.hash) });
    expect((await api.get('/v1/headers/99')).body.error?.code).toBe('BLOCK_NOT_FOUND');
    const genesis = await api.get('/v1/genesis');
    expect(genesis.body.hash).toBe(hex(backend.genesisHash));
    expect(genesis.body.genesis).toMatchObject({ chainId: CHAIN_ID });
  });

  it('lists every validator set from genesis, each with the first height it decides', async () => {
    const backend = new LedgerBackend();
    const api = serve(backend);
    const [a, b, c, d] = backend.orgs;
    const genesisSet = validatorsFromState(backend.ledger);
    const first = await api.get('/v1/validator-sets');
    expect(first.body).toEqual({
      items: [
        {
          fromHeight: 1,
          validatorSetHash: hex(validatorSetHash(genesisSet)),
          validators: genesisSet.map((v) => ({
            orgId: hex(v.orgId),
            publicKey: hex(v.publicKey),
            peerId: v.peerId,
          })),
        },
      ],
    });
    const submit = (tx: Transaction) => {
      const result = backend.submitTransaction(encodeTransaction(tx));
      if (!result.accepted) throw new Error(result.code);
      return tx;
    };
    // Some blocks, then an organization joins (a proposal and two more yes votes), more blocks,
    // then one leaves.
    for (let i = 0; i < 3; i++) backend.commit();
    const newcomer = signer('e/validator');
    const proposal = submit(
      backend.sign(a!.admin, 'governance.propose', {
        change: {
          type: 'add',
          organization: {
            id: bytes('org:e'),
            adminKeys: [signer('e/admin').publicKey],
            validatorKey: newcomer.publicKey,
            peerId: `12D3KooW${'E'.repeat(44)}`,
          },
        },
      }),
    );
    backend.commit();
    for (const voter of [b!, c!]) {
      submit(
        backend.sign(voter.admin, 'governance.vote', {
          proposalId: transactionHash(proposal),
          approve: true,
        }),
      );
    }
    const changed = backend.commit();
    expect(changed.receipts.map((r) => r.code)).toEqual(['OK', 'OK']);
    const addedSet = validatorsFromState(backend.ledger);
    for (let i = 0; i < 4; i++) backend.commit();
    const removal = submit(
      backend.sign(a!.admin, 'governance.propose', { change: { type: 'remove', orgId: d!.id } }),
    );
    backend.commit();
    // Five members now: passing takes four yes votes.
    for (const voter of [b!.admin, c!.admin, signer('e/admin')]) {
      submit(
        backend.sign(voter, 'governance.vote', {
          proposalId: transactionHash(removal),
          approve: true,
        }),
      );
    }
    const removedAt = backend.commit();
    const removedSet = validatorsFromState(backend.ledger);
    for (let i = 0; i < 2; i++) backend.commit();

    const sets = (await api.get('/v1/validator-sets')).body.items as Array<{
      fromHeight: number;
      validatorSetHash: string;
      validators: Array<{ publicKey: string }>;
    }>;
    // Header h names the set its parent's state defines, which decides h+1: a change executed
    // in block m is first named by header m+1 and decides from m+2.
    expect(sets.map((set) => set.fromHeight)).toEqual([
      1,
      changed.block.header.height + 2,
      removedAt.block.header.height + 2,
    ]);
    expect(sets[1]!.validatorSetHash).toBe(hex(validatorSetHash(addedSet)));
    expect(sets[1]!.validators.map((v) => v.publicKey)).toContain(hex(newcomer.publicKey));
    expect(sets[2]!.validatorSetHash).toBe(hex(validatorSetHash(removedSet)));
    expect(sets[2]!.validators.map((v) => v.publicKey)).not.toContain(hex(d!.validator.publicKey));
    for (const set of sets.slice(1)) {
      const named = backend.block(set.fromHeight - 1)!.block.header;
      expect(hex(named.validatorSetHash)).toBe(set.validatorSetHash);
      const before = backend.block(set.fromHeight - 2)!.block.header;
      expect(hex(before.validatorSetHash)).not.toBe(set.validatorSetHash);
    }
    // Asked again after more blocks, the history is the same (kept, extended only).
    backend.commit();
    expect((await api.get('/v1/validator-sets')).body.items).toEqual(sets);
  });
});

describe('organizations and providers', () => {
  it('lists members, one organization with its providers, and a provider', async () => {
    const world = populatedBackend();
    const api = serve(world.backend);
    const members = await api.get('/v1/organizations');
    const ids = (members.body.items as Array<{ id: string; status: string }>).map((o) => o.id);
    expect(ids.sort()).toEqual(world.backend.orgs.map((org) => hex(org.id)).sort());
    const a = await api.get(`/v1/organizations/${hex(world.a.id)}`);
    expect(a.body).toMatchObject({
      organization: {
        id: hex(world.a.id),
        status: 'member',
        adminKeys: [hex(world.a.admin.publicKey)],
      },
      providers: { total: 1, items: [{ key: hex(world.clinician.publicKey), role: 'clinician' }] },
    });
    expect((await api.get(`/v1/providers/${hex(world.bClinician.publicKey)}`)).body).toMatchObject({
      key: hex(world.bClinician.publicKey),
      org: hex(world.b.id),
      role: 'clinician',
      status: 'active',
    });
  });
});

describe('state proofs', () => {
  it('proves a value against the root a certified header carries, and an absent key too', async () => {
    const world = populatedBackend();
    const api = serve(world.backend);
    const validators = new ValidatorSet(world.backend.orgs.map((org) => org.validator.publicKey));
    type ProofBody = {
      height: number;
      stateRoot: string;
      header: { height: number; stateRoot: string };
      certificate: {
        height: number;
        view: number;
        digest: string;
        votes: Array<{ from: string; signature: string }>;
      };
      key: string;
      value: string | null;
      proof: string;
    };
    const check = async (key: Uint8Array) => {
      const { status, body } = await api.get(`/v1/state/proof?key=${hex(key)}`);
      expect(status).toBe(200);
      const answer = body as unknown as ProofBody;
      // What a light client does: certificate, then header, then proof.
      const certificate = {
        height: answer.certificate.height,
        view: answer.certificate.view,
        digest: fromHex(answer.certificate.digest),
        votes: answer.certificate.votes.map((v) => ({
          from: fromHex(v.from),
          signature: fromHex(v.signature),
        })),
      };
      expect(verifyCommitCertificate(CHAIN_ID, certificate, validators, { verify })).toBe(true);
      expect(answer.height).toBe(answer.header.height - 1);
      expect(answer.header.stateRoot).toBe(answer.stateRoot);
      const value = answer.value === null ? undefined : fromHex(answer.value);
      const proof = decodeStateProof(fromHex(answer.proof));
      expect(verifyStateProof(fromHex(answer.stateRoot), key, value, proof)).toBe(true);
      // The same proof must not vouch for another value.
      expect(
        verifyStateProof(
          fromHex(answer.stateRoot),
          key,
          value === undefined ? Uint8Array.of(1) : undefined,
          proof,
        ),
      ).toBe(false);
      return value;
    };
    const patient = await check(stateKeys.patient(world.alice.publicKey));
    expect((decodeCanonical(patient!) as unknown as PatientEntry).researchOptOut).toBe(false);
    expect(await check(stateKeys.patient(signer('nobody').publicKey))).toBeUndefined();
    expect((await api.get('/v1/state/proof?key=0')).status).toBe(400);
    expect((await api.get('/v1/state/proof')).status).toBe(400);
  });
});

describe('metrics and unknown routes', () => {
  it('counts requests by route and status in the Prometheus text', async () => {
    const api = serve(populatedBackend().backend);
    await api.get('/v1/status');
    await api.get('/v1/status?bogus=1');
    await api.get('/v1/no/such/route');
    const text = (await api.get('/v1/metrics')).text;
    expect(text).toContain('medchain_http_requests_total{route="/v1/status",status="200"} 1');
    expect(text).toContain('medchain_http_requests_total{route="/v1/status",status="400"} 1');
    expect(text).toContain('medchain_http_requests_total{route="unmatched",status="404"} 1');
    expect(text).toContain('medchain_http_request_seconds_count{route="/v1/status"} 2');
  });

  it('answers unknown routes with a JSON 404, and a wrong method with 405 and Allow', async () => {
    const api = serve(new LedgerBackend());
    for (const url of ['/', '/v2/status', '/v1/status/', '/v1/blocks', '/v1/status/x']) {
      const response = await api.get(url);
      expect(response.status).toBe(404);
      expect(response.body.error?.code).toBe('ROUTE_NOT_FOUND');
    }
    const wrong = await api.post('/v1/status', {});
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('GET');
    expect(wrong.body.error?.code).toBe('METHOD_NOT_ALLOWED');
    const tx = await api.get('/v1/tx');
    expect(tx.status).toBe(405);
    expect(tx.headers.allow).toBe('POST');
  });
});

describe('access requests submitted through the API', () => {
  it('a denied access is logged and shows in the audit trail with its reason', async () => {
    const world = populatedBackend();
    const { backend, clinician, record } = world;
    const stranger = signer('c/stranger');
    const api = serve(backend);
    const tx = backend.sign(clinician, 'access.log', {
      ...accessRequest(backend, stranger, record),
      decision: 'deny',
      consentId: null,
    });
    expect((await api.post('/v1/tx', { tx: hex(encodeTransaction(tx)) })).status).toBe(202);
    backend.commit();
    const receipt = await api.get(`/v1/tx/${hex(transactionHash(tx))}`);
    expect(receipt.body).toMatchObject({ status: 'committed', receipt: { code: 'OK' } });
    const audit = await api.get(
      `/v1/patients/${hex(world.alice.publicKey)}/audit?reverse=true&limit=1`,
    );
    expect(audit.body).toMatchObject({
      total: 2,
      items: [
        {
          index: 1,
          decision: 'deny',
          denyReason: 'REQUESTER_UNKNOWN',
          requester: hex(stranger.publicKey),
        },
      ],
    });
  });
});
