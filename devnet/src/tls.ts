import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSecretFile } from '@medchain/cli';

/** `DIR/tls/`: the devnet's CA certificate (the CA's key is never written: it signs once). */
const TLS_DIR = 'tls';
const CA_FILE = 'ca.pem';
/** A run's certificates: long enough for any devnet session, short enough to be throwaway. */
const VALIDITY_DAYS = 30;
const ECDSA = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface NodeTls {
  /** PEM paths the node's `api.tls` config names. */
  readonly cert: string;
  readonly key: string;
}

/** Where a node's certificate and key go: `<home>/tls/` (known before they are made). */
export function nodeTlsPaths(home: string): NodeTls {
  return { cert: join(home, TLS_DIR, 'cert.pem'), key: join(home, TLS_DIR, 'key.pem') };
}

function pem(label: string, der: ArrayBuffer): string {
  const base64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${base64.match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;
}

/**
 * A CA for this devnet run and, signed by it, one server certificate per node (ECDSA P-256,
 * SANs 127.0.0.1 and localhost, plus the node's own API host). Built in process with
 * `@peculiar/x509` over WebCrypto, so no `openssl` binary is needed; loaded only here, with the
 * Reflect metadata polyfill its dependency injection wants. Private keys are written 0600 into
 * each node's home (`<home>/tls/key.pem`), certificates next to them; the CA certificate is
 * `<dir>/tls/ca.pem` (its path is returned). The homes must exist.
 */
export async function makeDevnetTls(
  dir: string,
  nodes: readonly { readonly name: string; readonly home: string; readonly apiHost: string }[],
): Promise<string> {
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  const { subtle } = globalThis.crypto;
  x509.cryptoProvider.set(globalThis.crypto);
  const notBefore = new Date(Date.now() - 60_000); // a minute of slack for skewed clocks
  const notAfter = new Date(Date.now() + VALIDITY_DAYS * 86_400_000);
  const random = () =>
    Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(16))).toString('hex');
  const caKeys = await subtle.generateKey(ECDSA, false, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: random(),
    name: `CN=medchain devnet CA ${random().slice(0, 8)}`,
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ECDSA,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  mkdirSync(join(dir, TLS_DIR), { recursive: true, mode: 0o700 });
  const caPath = join(dir, TLS_DIR, CA_FILE);
  writeFileSync(caPath, ca.toString('pem'));
  for (const node of nodes) {
    const keys = await subtle.generateKey(ECDSA, true, ['sign', 'verify']);
    const hosts = new Set(['127.0.0.1', node.apiHost]);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: random(),
      subject: `CN=${node.name}`,
      issuer: ca.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: ECDSA,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([
          ...[...hosts].map((ip) => ({ type: 'ip' as const, value: ip })),
          { type: 'dns', value: 'localhost' },
        ]),
        await x509.AuthorityKeyIdentifierExtension.create(ca),
      ],
    });
    mkdirSync(join(node.home, TLS_DIR), { recursive: true, mode: 0o700 });
    const paths = nodeTlsPaths(node.home);
    writeFileSync(paths.cert, cert.toString('pem'));
    const key = await subtle.exportKey('pkcs8', keys.privateKey);
    writeSecretFile(paths.key, pem('PRIVATE KEY', key));
  }
  return caPath;
}
