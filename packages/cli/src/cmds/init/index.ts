import type { LogLevel } from '@medchain/node';
import type { Command } from 'commander';
import { integer } from '../../util/args.js';
import { example, outputOf, withPassphrase } from '../../util/common.js';
import { type HomeInfo, initHome } from '../../util/home.js';
import { fields } from '../../util/output.js';
import { checkNewPassphrase, getPassphrase } from '../../util/passphrase.js';

interface InitOptions {
  home: string;
  apiPort?: number;
  p2pPort?: number;
  p2pHost: string;
  logLevel?: LogLevel;
  passphraseFile?: string;
}

export function registerInit(program: Command): void {
  example(
    withPassphrase(
      program
        .command('init')
        .description(
          'create a node home: libp2p node key, encrypted validator key, config.json with every default written out',
        )
        .requiredOption('--home <dir>', 'new, empty directory for the node')
        .option('--api-port <port>', 'HTTP API port (default 7701)', integer(0, 65_535))
        .option('--p2p-port <port>', 'libp2p TCP port (default 7700)', integer(0, 65_535))
        .option('--p2p-host <ip>', 'libp2p listen address', '0.0.0.0')
        .option(
          '--log-level <level>',
          'fatal, error, warn, info (default), debug, trace or silent',
        ),
    ),
    'medchain init --home ./hospital-a --api-port 7701 --p2p-port 7700',
  ).action(async (options: InitOptions, cmd: Command) => {
    const passphrase = checkNewPassphrase(
      await getPassphrase(options, `the validator key of ${options.home}`, true),
    );
    const info = await initHome(options.home, passphrase, {
      ...(options.p2pPort === undefined
        ? {}
        : { listen: [`/ip4/${options.p2pHost}/tcp/${options.p2pPort}`] }),
      ...(options.apiPort === undefined ? {} : { api: { port: options.apiPort } }),
      ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
    });
    outputOf(cmd).result(info, (r: HomeInfo) => [
      ...fields({
        home: r.home,
        peerId: r.peerId,
        validatorKey: r.validatorKey,
        api: `http://${r.config.api.host}:${r.config.api.port}`,
        listen: r.config.listen.join(' '),
      }),
      '',
      'Next: write the public org file (`medchain genesis org-spec --home DIR ...`) for the others,',
      'install the genesis (`medchain genesis install FILE --home DIR --hash HASH`), add the',
      'other members (`medchain peers add --home DIR --org FILE`), and run `medchain start --home DIR`.',
    ]);
  });
}
