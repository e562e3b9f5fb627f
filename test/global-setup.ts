// Runs once per `vitest run`, in the main process, before the worker processes are forked: makes
// the test CA and the localhost certificate, and points NODE_EXTRA_CA_CERTS at the CA so that every
// worker (pool 'forks' inherits this environment; Node reads the variable at process start) trusts
// Sesame's test HTTPS server in fetch, https.get and third-party SDKs, without per-call options.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTestCertificates } from './helpers/tls.js';

export default function setup(): () => void {
  const dir = join(tmpdir(), `sesame-test-ca-${process.pid}`);
  const certs = ensureTestCertificates(dir);
  // Keep any CA the developer already trusts this way (corporate proxy...) next to ours.
  const previous = process.env.NODE_EXTRA_CA_CERTS;
  let caBundle = certs.caFile;
  if (previous) {
    caBundle = join(dir, 'extra-ca-bundle.pem');
    let theirs = '';
    try {
      theirs = readFileSync(previous, 'utf8');
    } catch {
      // Unreadable: Node would only have warned about it; ours still goes in.
    }
    writeFileSync(caBundle, `${theirs.trimEnd()}\n${readFileSync(certs.caFile, 'utf8')}`);
  }
  process.env.NODE_EXTRA_CA_CERTS = caBundle;
  process.env.SESAME_TEST_TLS_DIR = dir;
  return () => {
    if (previous === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
    else process.env.NODE_EXTRA_CA_CERTS = previous;
    delete process.env.SESAME_TEST_TLS_DIR;
    rmSync(dir, { recursive: true, force: true });
  };
}
