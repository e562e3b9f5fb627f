// A throwaway certificate authority and a `localhost` server certificate signed by it, made with
// the openssl CLI, so tests can serve real HTTPS that clients trust through NODE_EXTRA_CA_CERTS.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificates {
  dir: string;
  /** The CA certificate: what NODE_EXTRA_CA_CERTS points at. */
  caFile: string;
  caKeyFile: string;
  /** Server certificate for DNS:localhost and IP:127.0.0.1, and its key: Sesame's `tls` setting. */
  certFile: string;
  keyFile: string;
}

export function testCertificatePaths(dir: string): TestCertificates {
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    caKeyFile: join(dir, 'ca-key.pem'),
    certFile: join(dir, 'localhost.pem'),
    keyFile: join(dir, 'localhost-key.pem'),
  };
}

/** The certificates of the test run (made by test/global-setup.ts). */
export function testCertificates(): TestCertificates {
  const dir = process.env.SESAME_TEST_TLS_DIR;
  if (!dir) throw new Error('SESAME_TEST_TLS_DIR is not set: run the tests through vitest (test/global-setup.ts)');
  return testCertificatePaths(dir);
}

const OPENSSL = existsSync('/usr/bin/openssl') ? '/usr/bin/openssl' : 'openssl';

function openssl(args: string[], cwd: string): void {
  execFileSync(OPENSSL, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Creates the CA and the server certificate in `dir`, or reuses them if they are already there. */
export function ensureTestCertificates(dir: string): TestCertificates {
  const paths = testCertificatePaths(dir);
  mkdirSync(dir, { recursive: true });
  const newCa = !existsSync(paths.caFile) || !existsSync(paths.caKeyFile);
  if (newCa) {
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '30',
        '-subj',
        '/CN=Sesame Test CA',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
        '-keyout',
        'ca-key.pem.tmp',
        '-out',
        'ca.pem.tmp',
      ],
      dir,
    );
    // The key first: a CA file present means its key is too.
    renameSync(join(dir, 'ca-key.pem.tmp'), paths.caKeyFile);
    renameSync(join(dir, 'ca.pem.tmp'), paths.caFile);
  }
  // A new CA invalidates a server certificate left over from an old one.
  if (newCa || !existsSync(paths.certFile) || !existsSync(paths.keyFile)) {
    writeFileSync(
      join(dir, 'localhost.ext'),
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '',
      ].join('\n'),
    );
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-keyout', 'localhost-key.pem.tmp', '-out', 'localhost.csr'], dir);
    openssl(
      ['x509', '-req', '-in', 'localhost.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '30', '-extfile', 'localhost.ext', '-out', 'localhost.pem.tmp'],
      dir,
    );
    renameSync(join(dir, 'localhost-key.pem.tmp'), paths.keyFile);
    renameSync(join(dir, 'localhost.pem.tmp'), paths.certFile);
  }
  return paths;
}
