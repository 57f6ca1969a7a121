import { existsSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { duration, hash32, instant, integer } from '../../util/args.js';
import { example, outputOf } from '../../util/common.js';
import { usageError } from '../../util/errors.js';
import {
  addOrganization,
  checkGenesis,
  DEFAULT_CONSENSUS_PARAMS,
  type GenesisDraft,
  genesisSummary,
  newGenesisDraft,
  writeGenesis,
} from '../../util/genesis.js';
import { homeIdentity, readJsonFile } from '../../util/home.js';
import { publicKeyArg } from '../../util/keys.js';
import { fields, table } from '../../util/output.js';

interface CreateOptions {
  chainId: string;
  out: string;
  genesisTime?: number;
  checkpointInterval: number;
  baseTimeoutTicks: number;
  maxTimeoutDoublings: number;
  maxConsentDuration?: number;
  maxDelegationDuration?: number;
  proposalTtl?: number;
  accessRequestMaxSkew?: number;
  force?: boolean;
}

interface AddOptions {
  home?: string;
  validatorKey?: string;
  peerId?: string;
  adminKey: string[];
  id?: Uint8Array;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerGenesis(program: Command): void {
  const genesis = program
    .command('genesis')
    .description(
      'build and check the genesis file: chain id, founding organizations, validators, parameters',
    );

  example(
    genesis
      .command('create')
      .description('start a genesis file (add the founders with `genesis add-organization`)')
      .requiredOption('--chain-id <id>', 'chain id: lowercase letters, digits, dashes')
      .requiredOption('--out <file>', 'genesis file to write')
      .option('--genesis-time <time>', 'ISO time or ms (default now)', instant)
      .addOption(
        new Option('--checkpoint-interval <n>', 'consensus: checkpoint every n heights')
          .default(DEFAULT_CONSENSUS_PARAMS.checkpointInterval)
          .argParser(integer(1)),
      )
      .addOption(
        new Option('--base-timeout-ticks <n>', 'consensus: view-change timeout in view 0, in ticks')
          .default(DEFAULT_CONSENSUS_PARAMS.baseTimeoutTicks)
          .argParser(integer(1)),
      )
      .addOption(
        new Option('--max-timeout-doublings <n>', 'consensus: cap on timeout doublings')
          .default(DEFAULT_CONSENSUS_PARAMS.maxTimeoutDoublings)
          .argParser(integer(0, 30)),
      )
      .option('--max-consent-duration <d>', 'ledger: longest consent (default 5 years)', duration)
      .option(
        '--max-delegation-duration <d>',
        'ledger: longest delegation (default 5 years)',
        duration,
      )
      .option('--proposal-ttl <d>', 'ledger: governance vote window (default 14d)', duration)
      .option(
        '--access-request-max-skew <d>',
        'ledger: access request clock skew (default 10m)',
        duration,
      )
      .option('--force', 'overwrite an existing file'),
    'medchain genesis create --chain-id hospitals-net --out genesis.json',
  ).action((options: CreateOptions, cmd: Command) => {
    if (existsSync(options.out) && !options.force) {
      throw usageError(`${options.out} already exists`, 'add --force to overwrite it');
    }
    const params = {
      ...(options.maxConsentDuration ? { maxConsentDurationMs: options.maxConsentDuration } : {}),
      ...(options.maxDelegationDuration
        ? { maxDelegationDurationMs: options.maxDelegationDuration }
        : {}),
      ...(options.proposalTtl ? { proposalTtlMs: options.proposalTtl } : {}),
      ...(options.accessRequestMaxSkew
        ? { accessRequestMaxSkewMs: options.accessRequestMaxSkew }
        : {}),
    };
    const draft = newGenesisDraft(options.chainId, options.genesisTime ?? Date.now(), params, {
      checkpointInterval: options.checkpointInterval,
      baseTimeoutTicks: options.baseTimeoutTicks,
      maxTimeoutDoublings: options.maxTimeoutDoublings,
    });
    writeGenesis(options.out, draft);
    outputOf(cmd).result({ file: options.out, ...draft }, (r: GenesisDraft & { file: string }) => [
      ...fields({
        file: r.file,
        chainId: r.chainId,
        genesisTime: new Date(r.genesisTime).toISOString(),
      }),
      'Next: add each founding hospital with `medchain genesis add-organization`.',
    ]);
  });

  example(
    genesis
      .command('add-organization')
      .description(
        'add a founding organization: its validator (from its node home, or given) and admin keys',
      )
      .argument('<genesis>', 'genesis file to update')
      .option('--home <dir>', 'take the validator key and peer id from this node home')
      .option('--validator-key <key>', 'validator public key (hex or keystore), instead of --home')
      .option('--peer-id <id>', "the validator node's libp2p peer id, instead of --home")
      .option(
        '--admin-key <key>',
        'admin public key (hex or keystore); repeat for several',
        collect,
        [],
      )
      .option(
        '--id <hex>',
        'organization id, 32 bytes hex (default random)',
        hash32('an organization id'),
      ),
    'medchain genesis add-organization genesis.json --home ./hospital-a --admin-key a-admin.json',
  ).action(async (file: string, options: AddOptions, cmd: Command) => {
    if (options.adminKey.length === 0) {
      throw usageError(
        'at least one --admin-key is required',
        'create one with `medchain keys generate`',
      );
    }
    let validatorKey: Uint8Array;
    let peerId: string;
    if (options.home !== undefined) {
      ({ validatorKey, peerId } = await homeIdentity(options.home));
    } else if (options.validatorKey !== undefined && options.peerId !== undefined) {
      validatorKey = publicKeyArg(options.validatorKey, '--validator-key');
      peerId = options.peerId;
    } else {
      throw usageError('give --home, or both --validator-key and --peer-id');
    }
    const draft = readJsonFile(file, 'genesis') as GenesisDraft;
    if (!Array.isArray(draft?.organizations)) {
      throw usageError(
        `${file} is not a genesis file`,
        'create one with `medchain genesis create`',
      );
    }
    const next = addOrganization(draft, {
      id: options.id,
      adminKeys: options.adminKey.map((key) => publicKeyArg(key, '--admin-key')),
      validatorKey,
      peerId,
    });
    writeGenesis(file, next);
    const added = next.organizations[next.organizations.length - 1]!;
    outputOf(cmd).result(
      { file, organization: added, organizations: next.organizations.length },
      (r: { organization: typeof added; organizations: number }) => [
        ...fields({
          orgId: r.organization.id,
          validatorKey: r.organization.validatorKey,
          peerId: r.organization.peerId,
        }),
        `${r.organizations} founding organization(s) now.`,
      ],
    );
  });

  example(
    genesis
      .command('validate')
      .description("check a genesis file with the ledger's rules and print its hash")
      .argument('<genesis>', 'genesis file'),
    'medchain genesis validate genesis.json --json',
  ).action((file: string, _options: unknown, cmd: Command) => {
    const summary = genesisSummary(checkGenesis(readJsonFile(file, 'genesis')));
    outputOf(cmd).result({ valid: true, ...summary }, (r: ReturnType<typeof genesisSummary>) => [
      ...fields({ valid: 'yes', chainId: r.chainId, genesisTime: r.genesisTime, hash: r.hash }),
      '',
      ...table(
        ['organization', 'validator key', 'peer id'],
        r.organizations.map((o) => [o.id.slice(0, 16), o.validatorKey.slice(0, 16), o.peerId]),
      ),
    ]);
  });
}
