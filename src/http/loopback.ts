// Form posts to this same server over loopback, for routes that use Sesame's own endpoints instead
// of reaching into oidc-provider. With `tls` the certificate is checked against the issuer's host
// name (what a real certificate is issued for), not against "localhost".
import { isIP } from 'node:net';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface LoopbackAnswer {
  status: number;
  body: Record<string, unknown>;
}

export function postForm(internalUrl: string, issuer: string, path: string, form: Record<string, string>): Promise<LoopbackAnswer> {
  const url = new URL(path, internalUrl);
  const payload = new URLSearchParams(form).toString();
  const issuerHost = new URL(issuer).hostname;
  const tls = url.protocol === 'https:';
  const options = {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(payload), accept: 'application/json' },
    ...(tls && !isIP(issuerHost) ? { servername: issuerHost } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = (tls ? httpsRequest : httpRequest)(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown> });
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`loopback ${path} timed out`)));
    req.end(payload);
  });
}
