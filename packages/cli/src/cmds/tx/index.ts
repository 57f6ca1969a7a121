import { readFileSync, writeFileSync } from 'node:fs';
import {
  accessRequestJson,
  randomBytes,
  type SentTx,
  type SignedAccessRequest,
  signAccessRequest,
} from '@medchain/client';
import { fromHex, toHex } from '@medchain/crypto';
import {
  type AccessDecision,
  CONSENT_ACTIONS,
  type ConsentAction,
  DELEGATE_RELATIONS,
  type DelegateRelation,
  EMERGENCY_REASONS,
  type EmergencyReason,
  type OrganizationSpec,
  PROVIDER_ROLES,
  type ProviderRole,
  PURPOSES,
  type Purpose,
  parseAccessRequest,
  RECORD_SALT_BYTES,
  recordCommitment,
  recordId,
  type TxBodies,
  type TxKind,
} from '@medchain/ledger';
import type { Command } from 'commander';
import { duration, hash32, hexBytes, instant, listOf, oneOf } from '../../util/args.js';
import {
  clientOf,
  example,
  outputOf,
  type SignerOptions,
  sendOptionsOf,
  signerOf,
  withPassphrase,
  withSigner,
} from '../../util/common.js';
import { CliError, usageError } from '../../util/errors.js';
import { loadSigner, publicKeyArg } from '../../util/keys.js';
import { organizationOf, readOrgSpec } from '../../util/org-spec.js';
import { fields } from '../../util/output.js';

type Extra = Record<string, string>;

function txLines(r: SentTx & { extra?: Extra }): string[] {
  return fields({
    kind: r.kind,
    hash: r.hash,
    nonce: String(r.nonce),
    status:
      r.status === 'committed'
        ? `committed at height ${r.height} (receipt ${r.receipt?.code})`
        : 'pending (admitted to the mempool)',
    ...r.extra,
  });
}

/** Runs one transaction command: unlock the key, build the body, send, print. */
async function submit<K extends TxKind>(
  cmd: Command,
  options: SignerOptions,
  kind: K,
  body: (signer: Uint8Array) => TxBodies[K],
  extra: (signer: Uint8Array) => Extra = () => ({}),
): Promise<void> {
  const signer = await signerOf(options);
  const sent = await clientOf(cmd, signer).sendTransaction(
    kind,
    body(signer.publicKey),
    sendOptionsOf(options),
  );
  const result = { ...sent, extra: extra(signer.publicKey) };
  outputOf(cmd).result({ ...sent, ...result.extra }, () => txLines(result));
}

/**
 * A record version's anchor. From --content-file: the salted commitment to the file under a fresh
 * salt (the ledger README's "Record commitments"), the salt printed, since the vault upload must
 * carry it and nothing on the ledger may; from --content-hash: an anchor computed elsewhere.
 */
function anchorOf(options: { contentHash?: Uint8Array; contentFile?: string }): {
  contentHash: Uint8Array;
  extra: Extra;
} {
  if (options.contentHash !== undefined) return { contentHash: options.contentHash, extra: {} };
  if (options.contentFile === undefined) {
    throw usageError('give --content-file FILE or --content-hash HEX');
  }
  let content: Uint8Array;
  try {
    content = new Uint8Array(readFileSync(options.contentFile));
  } catch (error) {
    throw usageError(`cannot read ${options.contentFile}: ${(error as Error).message}`);
  }
  const salt = randomBytes(RECORD_SALT_BYTES);
  const contentHash = recordCommitment(salt, content);
  return { contentHash, extra: { contentHash: toHex(contentHash), salt: toHex(salt) } };
}

const key = (what: string) => (value: string) => publicKeyArg(value, what);
const recordIdArg = hash32('a record id');

function expiry(options: { expiresIn?: number; expiresAt?: number }, what: string): number {
  if (options.expiresAt !== undefined) return options.expiresAt;
  if (options.expiresIn !== undefined) return Date.now() + options.expiresIn;
  throw usageError(`give ${what}`);
}

function describeDecision(decision: AccessDecision): string {
  if (decision.decision === 'deny') return `deny (${decision.reason})`;
  const consent = decision.consentId === null ? '' : ` ${toHex(decision.consentId)}`;
  return `permit (${decision.basis}${consent})`;
}

/** A request file (`tx sign-request`: the API's JSON form, accessRequestJson) read back. */
function signedRequestFromJson(json: unknown, source: string): SignedAccessRequest {
  try {
    const { request, signature } = json as ReturnType<typeof accessRequestJson>;
    return {
      request: parseAccessRequest(
        {
          ...request,
          recordId: fromHex(request.recordId),
          requester: fromHex(request.requester),
          nonce: fromHex(request.nonce),
        },
        'request',
      ),
      signature: fromHex(signature, 64),
    };
  } catch (error) {
    throw new CliError(
      'BAD_REQUEST_FILE',
      `${source} is not a signed access request: ${(error as Error).message}`,
      {
        hint: 'create it with `medchain tx sign-request`',
      },
    );
  }
}

export function registerTx(program: Command): void {
  const tx = program
    .command('tx')
    .description('sign and submit transactions (waits for the receipt unless --no-wait)')
    .addHelpText(
      'after',
      '\nEvery tx command takes --key KEYSTORE (the signer), --node URL, --passphrase-file, --no-wait, --nonce.\nExit code 1 when the node rejects the transaction or its receipt is not OK.',
    );

  example(
    withSigner(
      tx
        .command('register-patient')
        .description('register the signing key as a pseudonymous patient'),
    ),
    'medchain tx register-patient --key patient.json',
  ).action((options: SignerOptions, cmd: Command) =>
    submit(
      cmd,
      options,
      'patient.register',
      () => ({}),
      (signer) => ({ patient: toHex(signer) }),
    ),
  );

  example(
    withSigner(
      tx
        .command('register-provider')
        .description("register a clinician or staff key (signed by an organization's admin key)")
        .requiredOption(
          '--provider <key>',
          'provider public key (hex or keystore)',
          key('--provider'),
        )
        .requiredOption('--role <role>', PROVIDER_ROLES.join('|'), oneOf(PROVIDER_ROLES)),
    ),
    'medchain tx register-provider --key a-admin.json --provider dr-ada.json --role clinician',
  ).action((options: SignerOptions & { provider: Uint8Array; role: ProviderRole }, cmd: Command) =>
    submit(cmd, options, 'provider.register', () => ({
      provider: options.provider,
      role: options.role,
    })),
  );

  example(
    withSigner(
      tx
        .command('suspend-provider')
        .description('suspend a provider of your organization')
        .requiredOption(
          '--provider <key>',
          'provider public key (hex or keystore)',
          key('--provider'),
        ),
    ),
    'medchain tx suspend-provider --key a-admin.json --provider 3f1c...',
  ).action((options: SignerOptions & { provider: Uint8Array }, cmd: Command) =>
    submit(cmd, options, 'provider.suspend', () => ({ provider: options.provider })),
  );

  example(
    withSigner(
      tx
        .command('delegate')
        .description('name a guardian or proxy who may act for the patient until an expiry')
        .requiredOption('--delegate <key>', 'delegate public key', key('--delegate'))
        .requiredOption(
          '--relation <relation>',
          DELEGATE_RELATIONS.join('|'),
          oneOf(DELEGATE_RELATIONS),
        )
        .option('--expires-in <duration>', 'e.g. 30d', duration)
        .option('--expires-at <time>', 'ISO time or ms', instant),
    ),
    'medchain tx delegate --key patient.json --delegate guardian.json --relation guardian --expires-in 365d',
  ).action(
    (
      options: SignerOptions & {
        delegate: Uint8Array;
        relation: DelegateRelation;
        expiresIn?: number;
        expiresAt?: number;
      },
      cmd: Command,
    ) =>
      submit(cmd, options, 'patient.delegate', (signer) => ({
        patient: signer,
        delegate: options.delegate,
        relation: options.relation,
        expiresAt: expiry(options, '--expires-in or --expires-at'),
      })),
  );

  example(
    withSigner(
      tx
        .command('undelegate')
        .description('remove a delegate')
        .requiredOption('--delegate <key>', 'delegate public key', key('--delegate')),
    ),
    'medchain tx undelegate --key patient.json --delegate guardian.json',
  ).action((options: SignerOptions & { delegate: Uint8Array }, cmd: Command) =>
    submit(cmd, options, 'patient.undelegate', (signer) => ({
      patient: signer,
      delegate: options.delegate,
    })),
  );

  example(
    withSigner(
      tx
        .command('policy')
        .description("set the patient's policy: opt out of break-glass and/or research use")
        .option(
          '--patient <key>',
          'patient (default: the signer; a delegate may sign)',
          key('--patient'),
        )
        .requiredOption(
          '--break-glass <allow|deny>',
          'emergency access without consent',
          oneOf(['allow', 'deny'] as const),
        )
        .requiredOption(
          '--research <allow|deny>',
          'research use',
          oneOf(['allow', 'deny'] as const),
        ),
    ),
    'medchain tx policy --key patient.json --break-glass deny --research allow',
  ).action(
    (
      options: SignerOptions & { patient?: Uint8Array; breakGlass: string; research: string },
      cmd: Command,
    ) =>
      submit(cmd, options, 'patient.policy', (signer) => ({
        patient: options.patient ?? signer,
        breakGlassOptOut: options.breakGlass === 'deny',
        researchOptOut: options.research === 'deny',
      })),
  );

  example(
    withSigner(
      tx
        .command('anchor-record')
        .description(
          "anchor a record's salted commitment (signed by a provider of the custodian hospital); the data stays in the hospital (record put also stores it in the vault)",
        )
        .requiredOption('--patient <key>', 'patient public key', key('--patient'))
        .requiredOption(
          '--custodian <org-id>',
          'organization id of the hospital holding the record',
          hash32('an organization id'),
        )
        .requiredOption('--type <resource-type>', 'FHIR resource type, e.g. Observation')
        .option(
          '--content-file <file>',
          'the record content: its salted commitment is anchored and the salt printed',
        )
        .option(
          '--content-hash <hex>',
          'instead: the anchor itself, a salted commitment computed elsewhere',
          hash32('a content hash'),
        )
        .option(
          '--record-nonce <hex>',
          '16 random bytes (default random)',
          hexBytes(16, 'a record nonce'),
        ),
    ),
    'medchain tx anchor-record --key dr-ada.json --patient 9a2e... --custodian 51c0... --type Observation --content-file obs.json',
  ).action(
    (
      options: SignerOptions & {
        patient: Uint8Array;
        custodian: Uint8Array;
        type: string;
        contentHash?: Uint8Array;
        contentFile?: string;
        recordNonce?: Uint8Array;
      },
      cmd: Command,
    ) => {
      const nonce = options.recordNonce ?? randomBytes(16);
      const { contentHash, extra } = anchorOf(options);
      return submit(
        cmd,
        options,
        'record.anchor',
        () => ({
          patient: options.patient,
          custodian: options.custodian,
          resourceType: options.type,
          contentHash,
          nonce,
        }),
        () => ({ recordId: toHex(recordId(options.custodian, options.patient, nonce)), ...extra }),
      );
    },
  );

  example(
    withSigner(
      tx
        .command('amend-record')
        .description('anchor a new version of a record (record amend also stores it in the vault)')
        .requiredOption('--record <id>', 'record id', recordIdArg)
        .option(
          '--content-file <file>',
          'the new content: its salted commitment is anchored and the salt printed',
        )
        .option(
          '--content-hash <hex>',
          'instead: the anchor itself, a salted commitment computed elsewhere',
          hash32('a content hash'),
        ),
    ),
    'medchain tx amend-record --key dr-ada.json --record 77ab... --content-file obs-v2.json',
  ).action(
    (
      options: SignerOptions & {
        record: Uint8Array;
        contentHash?: Uint8Array;
        contentFile?: string;
      },
      cmd: Command,
    ) => {
      const { contentHash, extra } = anchorOf(options);
      return submit(
        cmd,
        options,
        'record.amend',
        () => ({ recordId: options.record, contentHash }),
        () => extra,
      );
    },
  );

  example(
    withSigner(
      tx
        .command('erase-record')
        .description('mark a record erased (custodian, patient or delegate)')
        .requiredOption('--record <id>', 'record id', recordIdArg),
    ),
    'medchain tx erase-record --key patient.json --record 77ab...',
  ).action((options: SignerOptions & { record: Uint8Array }, cmd: Command) =>
    submit(cmd, options, 'record.erase', () => ({ recordId: options.record })),
  );

  example(
    withSigner(
      tx
        .command('grant-consent')
        .description(
          'grant a provider or a whole organization access to records, for a purpose, until an end date',
        )
        .option(
          '--patient <key>',
          'patient (default: the signer; a delegate may sign)',
          key('--patient'),
        )
        .option('--to-provider <key>', 'grantee provider public key', key('--to-provider'))
        .option('--to-org <org-id>', 'grantee organization id', hash32('an organization id'))
        .option('--records <ids>', 'comma-separated record ids', listOf(recordIdArg), [])
        .option(
          '--types <types>',
          'comma-separated FHIR resource types, e.g. Observation,Condition',
          listOf(String),
          [],
        )
        .option('--actions <actions>', CONSENT_ACTIONS.join(','), listOf(oneOf(CONSENT_ACTIONS)), [
          'access',
        ])
        .option('--purposes <purposes>', PURPOSES.join(','), listOf(oneOf(PURPOSES)), ['TREAT'])
        .option('--valid-from <time>', 'ISO time or ms (default now)', instant)
        .option('--valid-for <duration>', 'e.g. 1h, 30d', duration)
        .option('--valid-until <time>', 'ISO time or ms', instant),
    ),
    'medchain tx grant-consent --key patient.json --to-provider dr-bob.json --records 77ab... --valid-for 1h',
  ).action(
    (
      options: SignerOptions & {
        patient?: Uint8Array;
        toProvider?: Uint8Array;
        toOrg?: Uint8Array;
        records: Uint8Array[];
        types: string[];
        actions: ConsentAction[];
        purposes: Purpose[];
        validFrom?: number;
        validFor?: number;
        validUntil?: number;
      },
      cmd: Command,
    ) => {
      if ((options.toProvider === undefined) === (options.toOrg === undefined)) {
        throw usageError('give exactly one of --to-provider and --to-org');
      }
      if (options.records.length === 0 && options.types.length === 0) {
        throw usageError('a consent needs --records or --types (or both)');
      }
      const validFrom = options.validFrom ?? Date.now();
      const validUntil =
        options.validUntil ??
        (options.validFor === undefined ? undefined : validFrom + options.validFor);
      if (validUntil === undefined) {
        throw usageError('a consent needs an end: give --valid-for or --valid-until');
      }
      return submit(
        cmd,
        options,
        'consent.grant',
        (signer) => ({
          patient: options.patient ?? signer,
          grantee:
            options.toProvider !== undefined
              ? { type: 'provider', id: options.toProvider }
              : { type: 'organization', id: options.toOrg! },
          recordIds: options.records,
          resourceTypes: options.types,
          actions: options.actions,
          purposes: options.purposes,
          validFrom,
          validUntil,
        }),
        () => ({ validUntil: new Date(validUntil).toISOString() }),
      );
    },
  );

  example(
    withSigner(
      tx
        .command('revoke-consent')
        .description('revoke a consent (its id is the hash of the grant transaction)')
        .requiredOption('--consent <id>', 'consent id', hash32('a consent id')),
    ),
    'medchain tx revoke-consent --key patient.json --consent c0ff...',
  ).action((options: SignerOptions & { consent: Uint8Array }, cmd: Command) =>
    submit(cmd, options, 'consent.revoke', () => ({ consentId: options.consent })),
  );

  example(
    withSigner(
      tx
        .command('propose-member')
        .description('governance: propose adding an organization (signed by a member admin)')
        .option(
          '--org <file>',
          'its public org file (`medchain genesis org-spec`), instead of the keys below',
        )
        .option('--validator-key <key>', 'its validator public key', key('--validator-key'))
        .option('--peer-id <id>', "its validator node's libp2p peer id")
        .option('--admin-key <key>', 'its admin public key', key('--admin-key'))
        .option(
          '--org-id <hex>',
          'its organization id (default random)',
          hash32('an organization id'),
        ),
    ),
    'medchain tx propose-member --key a-admin.json --org hospital-d.org.json',
    'medchain tx propose-member --key a-admin.json --validator-key 5e... --peer-id 12D3Koo... --admin-key d-admin.json',
  ).action(
    (
      options: SignerOptions & {
        org?: string;
        validatorKey?: Uint8Array;
        peerId?: string;
        adminKey?: Uint8Array;
        orgId?: Uint8Array;
      },
      cmd: Command,
    ) => {
      const { validatorKey, peerId, adminKey } = options;
      let organization: OrganizationSpec;
      if (options.org !== undefined) {
        organization = organizationOf(readOrgSpec(options.org));
      } else if (validatorKey !== undefined && peerId !== undefined && adminKey !== undefined) {
        const id = options.orgId ?? randomBytes(32);
        organization = { id, adminKeys: [adminKey], validatorKey, peerId };
      } else {
        throw usageError('give --org FILE, or --validator-key, --peer-id and --admin-key');
      }
      return submit(
        cmd,
        options,
        'governance.propose',
        () => ({ change: { type: 'add', organization } }),
        () => ({ orgId: toHex(organization.id) }),
      );
    },
  );

  example(
    withSigner(
      tx
        .command('propose-removal')
        .description('governance: propose removing a member organization')
        .requiredOption('--org-id <hex>', 'the organization id', hash32('an organization id')),
    ),
    'medchain tx propose-removal --key a-admin.json --org-id 51c0...',
  ).action((options: SignerOptions & { orgId: Uint8Array }, cmd: Command) =>
    submit(cmd, options, 'governance.propose', () => ({
      change: { type: 'remove', orgId: options.orgId },
    })),
  );

  example(
    withSigner(
      tx
        .command('rotate-key')
        .description(
          "replace one of your organization's keys, an admin key or its validator key (signed by an admin key; `keys rotate` also makes the new key)",
        )
        .requiredOption('--old <key>', 'the key to retire (hex, did:key or keystore)', key('--old'))
        .requiredOption('--new <key>', 'the key taking its place', key('--new')),
    ),
    'medchain tx rotate-key --key a-admin.json --old 5e... --new a-admin-2.json',
  ).action((options: SignerOptions & { old: Uint8Array; new: Uint8Array }, cmd: Command) =>
    submit(cmd, options, 'organization.rotate-key', () => ({
      oldKey: options.old,
      newKey: options.new,
    })),
  );

  example(
    withSigner(
      tx
        .command('propose-rekey')
        .description(
          "governance: propose replacing a member's admin keys and validator key (when its own admin keys are stolen or lost)",
        )
        .requiredOption('--org-id <hex>', 'the organization id', hash32('an organization id'))
        .requiredOption(
          '--admin-key <keys>',
          'its new admin public keys, comma-separated',
          listOf((value) => publicKeyArg(value, '--admin-key')),
        )
        .requiredOption(
          '--validator-key <key>',
          'its validator key (the present one, or a new one)',
          key('--validator-key'),
        ),
    ),
    'medchain tx propose-rekey --key b-admin.json --org-id 51c0... --admin-key a-admin-new.json --validator-key 5e...',
  ).action(
    (
      options: SignerOptions & {
        orgId: Uint8Array;
        adminKey: Uint8Array[];
        validatorKey: Uint8Array;
      },
      cmd: Command,
    ) =>
      submit(cmd, options, 'governance.propose', () => ({
        change: {
          type: 'rekey',
          orgId: options.orgId,
          adminKeys: options.adminKey,
          validatorKey: options.validatorKey,
        },
      })),
  );

  example(
    withSigner(
      tx
        .command('vote')
        .description(
          'governance: vote on a proposal (its id is the hash of the proposing transaction)',
        )
        .requiredOption('--proposal <id>', 'proposal id', hash32('a proposal id'))
        .requiredOption('--approve <yes|no>', 'your vote', oneOf(['yes', 'no'] as const)),
    ),
    'medchain tx vote --key b-admin.json --proposal 9d1f... --approve yes',
  ).action((options: SignerOptions & { proposal: Uint8Array; approve: string }, cmd: Command) =>
    submit(cmd, options, 'governance.vote', () => ({
      proposalId: options.proposal,
      approve: options.approve === 'yes',
    })),
  );

  example(
    withPassphrase(
      tx
        .command('sign-request')
        .description(
          "requester side: sign a request to access a record (no transaction; hand the file to the record's custodian)",
        )
        .requiredOption('--key <keystore>', "requester's keystore")
        .requiredOption('--record <id>', 'record id', recordIdArg)
        .option('--action <action>', CONSENT_ACTIONS.join('|'), oneOf(CONSENT_ACTIONS), 'access')
        .option('--purpose <purpose>', PURPOSES.join('|'), oneOf(PURPOSES), 'TREAT')
        .option(
          '--emergency <reason>',
          `break-glass: ${EMERGENCY_REASONS.join('|')} (sets purpose ETREAT)`,
          oneOf(EMERGENCY_REASONS),
        )
        .requiredOption('--out <file>', 'where to write the signed request'),
    ),
    'medchain tx sign-request --key dr-bob.json --record 77ab... --out request.json',
  ).action(
    async (
      options: {
        key: string;
        passphraseFile?: string;
        record: Uint8Array;
        action: ConsentAction;
        purpose: Purpose;
        emergency?: EmergencyReason;
        out: string;
      },
      cmd: Command,
    ) => {
      const signer = await loadSigner(options.key, options);
      const signed = await signAccessRequest(signer, {
        recordId: options.record,
        action: options.action,
        purpose: options.emergency === undefined ? options.purpose : 'ETREAT',
        ...(options.emergency === undefined ? {} : { emergencyReason: options.emergency }),
      });
      const json = accessRequestJson(signed);
      writeFileSync(options.out, `${JSON.stringify(json, null, 2)}\n`);
      outputOf(cmd).result({ file: options.out, ...json }, () =>
        fields({
          file: options.out,
          requester: json.request.requester,
          record: json.request.recordId,
          purpose: json.request.purpose,
        }),
      );
    },
  );

  example(
    withSigner(
      tx
        .command('log-access')
        .description(
          "custodian side: decide a signed request with the ledger's access rule and commit the decision (access.log, or access.emergency for break-glass)",
        )
        .requiredOption('--request <file>', 'signed request from `tx sign-request`'),
    ),
    'medchain tx log-access --key a-admin.json --request request.json',
  ).action(async (options: SignerOptions & { request: string }, cmd: Command) => {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(options.request, 'utf8'));
    } catch (error) {
      throw usageError(`cannot read ${options.request}: ${(error as Error).message}`);
    }
    const signed = signedRequestFromJson(json, options.request);
    const custodian = await signerOf(options);
    const logged = await clientOf(cmd, custodian).logAccess(signed, sendOptionsOf(options));
    const decision = describeDecision(logged.decision);
    outputOf(cmd).result(
      { ...logged.tx, decision: logged.decision.decision, detail: decision },
      () => txLines({ ...logged.tx, extra: { decision } }),
    );
  });
}
