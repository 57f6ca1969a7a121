import { copyFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { toHex } from '@medchain/crypto';
import { type Command, Option } from 'commander';
import { duration, hash32, instant, integer } from '../../util/args.js';
import { example, outputOf } from '../../util/common.js';
import { CliError, usageError } from '../../util/errors.js';
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
import { nodePackage } from '../../util/node-package.js';
import {
  checkPeerAddress,
  makeOrgSpec,
  type OrgSpec,
  organizationOf,
  readOrgSpec,
  writeOrgSpec,
} from '../../util/org-spec.js';
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

/** The chain id, output file and parameters `create` and `assemble` share. */
function withGenesisParams(cmd: Command): Command {
  return cmd
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
    .option('--force', 'overwrite an existing file');
}

/** A new draft from `create`/`assemble` options; refuses to overwrite without --force. */
function newDraft(options: CreateOptions): GenesisDraft {
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
  return newGenesisDraft(options.chainId, options.genesisTime ?? Date.now(), params, {
    checkpointInterval: options.checkpointInterval,
    baseTimeoutTicks: options.baseTimeoutTicks,
    maxTimeoutDoublings: options.maxTimeoutDoublings,
  });
}

export function registerGenesis(program: Command): void {
  const genesis = program
    .command('genesis')
    .description(
      'build and check the genesis file: chain id, founding organizations, validators, parameters',
    );

  example(
    withGenesisParams(
      genesis
        .command('create')
        .description('start a genesis file (add the founders with `genesis add-organization`)'),
    ),
    'medchain genesis create --chain-id hospitals-net --out genesis.json',
  ).action((options: CreateOptions, cmd: Command) => {
    const draft = newDraft(options);
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

  example(
    genesis
      .command('org-spec')
      .description(
        "write this hospital's public org file (org id, admin keys, validator key, peer id, addresses) for the other hospitals; no secrets",
      )
      .requiredOption('--home <dir>', "this hospital's node home (validator key and peer id)")
      .option(
        '--admin-key <key>',
        'admin public key (hex or keystore); repeat for several',
        collect,
        [],
      )
      .option(
        '--addr <multiaddr>',
        'where other hospitals dial this node, e.g. /ip4/10.0.0.2/tcp/7700; repeat for several',
        collect,
        [],
      )
      .option(
        '--id <hex>',
        'organization id, 32 bytes hex (default random)',
        hash32('an organization id'),
      )
      .requiredOption('--out <file>', 'org file to write')
      .option('--force', 'overwrite an existing file'),
    'medchain genesis org-spec --home ./hospital-a --admin-key a-admin.json --addr /ip4/10.0.0.2/tcp/7700 --out hospital-a.org.json',
  ).action(
    async (
      options: {
        home: string;
        adminKey: string[];
        addr: string[];
        id?: Uint8Array;
        out: string;
        force?: boolean;
      },
      cmd: Command,
    ) => {
      if (options.adminKey.length === 0) {
        throw usageError(
          'at least one --admin-key is required',
          'create one with `medchain keys generate`',
        );
      }
      if (options.addr.length === 0) {
        throw usageError(
          'at least one --addr is required: where the other hospitals reach this node',
          'e.g. --addr /ip4/10.0.0.2/tcp/7700 (the host address and the p2p port of config.json "listen")',
        );
      }
      for (const addr of options.addr) checkPeerAddress(addr, '--addr');
      const { validatorKey, peerId } = await homeIdentity(options.home);
      const spec = makeOrgSpec({
        id: options.id,
        adminKeys: options.adminKey.map((key) => publicKeyArg(key, '--admin-key')),
        validatorKey,
        peerId,
        addrs: options.addr,
      });
      writeOrgSpec(options.out, spec, options.force === true);
      outputOf(cmd).result({ file: options.out, ...spec }, (r: OrgSpec & { file: string }) => [
        ...fields({
          file: r.file,
          orgId: r.id,
          validatorKey: r.validatorKey,
          peerId: r.peerId,
          addrs: r.addrs.join(' '),
        }),
        'Send this file to the other hospitals (it holds no secret).',
      ]);
    },
  );

  example(
    withGenesisParams(
      genesis
        .command('assemble')
        .description(
          "build a genesis from the founding hospitals' public org files, and print its hash",
        )
        .argument(
          '<org-files...>',
          'org files (`medchain genesis org-spec`), one per founding hospital',
        ),
    ),
    'medchain genesis assemble --chain-id hospitals-net --out genesis.json a.org.json b.org.json c.org.json',
  ).action((files: string[], options: CreateOptions, cmd: Command) => {
    let draft = newDraft(options);
    for (const file of files) {
      draft = addOrganization(draft, organizationOf(readOrgSpec(file)));
    }
    const summary = genesisSummary(checkGenesis(draft));
    writeGenesis(options.out, draft);
    outputOf(cmd).result(
      { file: options.out, ...summary },
      (r: ReturnType<typeof genesisSummary> & { file: string }) => [
        ...fields({
          file: r.file,
          chainId: r.chainId,
          organizations: String(r.organizations.length),
          hash: r.hash,
        }),
        'Send the genesis to every hospital, and read them the hash over another channel:',
        'each installs it with `medchain genesis install FILE --home DIR --hash HASH`.',
      ],
    );
  });

  example(
    genesis
      .command('install')
      .description(
        'check a genesis against the hash the hospitals agreed on, and put it in a node home',
      )
      .argument('<genesis>', 'genesis file received')
      .requiredOption('--home <dir>', 'node home')
      .requiredOption(
        '--hash <hex>',
        'the genesis hash the hospitals agreed on',
        hash32('a genesis hash'),
      ),
    'medchain genesis install genesis.json --home ./hospital-b --hash 5be1...',
  ).action(async (file: string, options: { home: string; hash: Uint8Array }, cmd: Command) => {
    const summary = genesisSummary(checkGenesis(readJsonFile(file, 'genesis')));
    const expected = toHex(options.hash);
    if (summary.hash !== expected) {
      throw new CliError(
        'GENESIS_HASH_MISMATCH',
        `${file} has hash ${summary.hash}, not the agreed ${expected}: nothing was installed`,
        {
          hint: 'get the genesis again from the hospital that assembled it and compare the hash with it by phone',
        },
      );
    }
    const node = await nodePackage();
    await homeIdentity(options.home); // refuses a directory that is not a node home
    const target = join(resolve(options.home), node.GENESIS_FILE);
    if (existsSync(target)) {
      const installed = genesisSummary(checkGenesis(readJsonFile(target, 'genesis')));
      if (installed.hash !== summary.hash) {
        throw new CliError(
          'GENESIS_EXISTS',
          `${target} already holds another genesis (hash ${installed.hash}): nothing was installed`,
          { hint: 'a home belongs to one chain: make a new home with `medchain init` for another' },
        );
      }
    } else {
      copyFileSync(file, target);
    }
    outputOf(cmd).result(
      { installed: target, ...summary },
      (r: ReturnType<typeof genesisSummary> & { installed: string }) => [
        ...fields({ installed: r.installed, chainId: r.chainId, hash: r.hash }),
        'The hash matches. Next: `medchain peers add`, then `medchain start`.',
      ],
    );
  });
}
