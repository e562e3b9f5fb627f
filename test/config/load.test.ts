// Configuration loading: file, then environment, then overrides; bad values fail with the field path.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';

function configFile(content: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'sesame-config-')), 'sesame.config.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('loadConfig', () => {
  it('applies defaults, the file, then environment variables', () => {
    const file = configFile({ port: 4000, codes: { ttl: 300 }, emailFrom: 'From File <a@b.c>' });
    const config = loadConfig({ SESAME_CONFIG: file, EMAIL_FROM: 'From Env <x@y.z>', SESAME_ISSUER: 'https://login.example/' });
    expect(config.port).toBe(4000);
    expect(config.codes).toEqual({
      length: 6,
      ttl: 300,
      maxAttempts: 5,
      resendCooldown: 30,
      sendsPerHour: 10,
      sendsPerIdentifierPerHour: 50,
      freeFailures: 5,
      maxFailureDelay: 900,
      failuresPerIdentifierPerDay: 100,
      trustedBrowserTtl: 30 * 86400,
    });
    expect(config.emailFrom).toBe('From Env <x@y.z>');
    expect(config.issuer).toBe('https://login.example/');
    expect(config.devOutbox).toBe(true);
    expect(Object.isFrozen(config.codes)).toBe(true);
  });

  it('defaults the issuer to localhost on the configured port', () => {
    expect(loadConfig({ PORT: '3100', SESAME_CONFIG: configFile({}) }).issuer).toBe('http://localhost:3100');
  });

  it.each([
    [{ codes: { ttl: -1 } }, 'invalid configuration at codes.ttl: Too small: expected number to be >0'],
    [{ colour: 'blue' }, 'invalid configuration at colour: Unrecognized key: "colour"'],
    [{ signUp: 'sometimes' }, 'invalid configuration at signUp: Invalid option: expected one of "open"|"existing-only"'],
    [{ clients: [{ client_id: 'a' }, { client_id: 'a' }] }, 'invalid configuration at clients.1.client_id: duplicate a'],
    ['{ not json', /sesame\.config\.json: .*JSON/],
  ])('refuses %j with the field path', (content, message) => {
    expect(() => loadConfig({ SESAME_CONFIG: configFile(content) })).toThrowError(message instanceof RegExp ? message : new ConfigError(message));
  });

  it('refuses a missing explicit config file', () => {
    expect(() => loadConfig({ SESAME_CONFIG: '/nonexistent/sesame.json' })).toThrowError('SESAME_CONFIG: file not found: /nonexistent/sesame.json');
  });

  it('refuses unsafe production settings', () => {
    const file = configFile({});
    const prod = { NODE_ENV: 'production', SESAME_CONFIG: file };
    expect(() => loadConfig({ ...prod, SESAME_ISSUER: 'http://login.example' })).toThrowError('issuer: must be https in production (got http://login.example)');
    expect(() => loadConfig({ ...prod, SESAME_ISSUER: 'https://login.example' })).toThrowError('smtpUrl: SMTP_URL is required in production while the email connection is enabled');
    expect(() => loadConfig({ ...prod, SESAME_ISSUER: 'https://login.example', SMTP_URL: 'smtp://mail:25' }, { devOutbox: true })).toThrowError(
      'devOutbox: the dev outbox cannot be enabled in production',
    );
    const ok = loadConfig({ ...prod, SESAME_ISSUER: 'https://login.example', SMTP_URL: 'smtp://mail:25' });
    expect(ok.devOutbox).toBe(false);
    expect(ok.production).toBe(true);
  });

  it('turns the dev outbox on only when nothing is really delivered', () => {
    const dev = { SESAME_CONFIG: configFile({}) };
    expect(loadConfig(dev).devOutbox).toBe(true);
    expect(loadConfig({ ...dev, SMTP_URL: 'smtp://mail:25' }).devOutbox).toBe(false);
    const webhook = { connections: [{ id: 'email', type: 'email', delivery: { type: 'webhook', url: 'https://hooks.example/x', secret: 's'.repeat(32) } }] };
    expect(loadConfig(dev, webhook).devOutbox).toBe(false);
    const sms = (provider: Record<string, unknown>) => ({ connections: [{ id: 'sms', type: 'sms', allowedCountries: ['US'], provider }] });
    expect(loadConfig(dev, sms({ type: 'capture' })).devOutbox).toBe(true);
    expect(loadConfig(dev, sms({ type: 'http', url: 'https://sms.example/send' })).devOutbox).toBe(false);
    expect(() => loadConfig({ ...dev, SMTP_URL: 'smtp://mail:25' }, { devOutbox: true })).toThrowError(
      'devOutbox: the dev outbox shows codes, so it cannot be enabled while messages are really delivered (smtpUrl, a webhook or an SMS provider)',
    );
    expect(loadConfig(dev, { devOutbox: false }).devOutbox).toBe(false);
  });

  it('reads the trusted proxy hops from TRUST_PROXY or trustProxy (true is one hop)', () => {
    const dev = { SESAME_CONFIG: configFile({}) };
    expect(loadConfig(dev).proxyHops).toBe(0);
    for (const [value, hops] of [
      ['1', 1],
      ['true', 1],
      ['yes', 1],
      ['2', 2],
      ['0', 0],
      ['false', 0],
      ['no', 0],
    ] as const) {
      expect(loadConfig({ ...dev, TRUST_PROXY: value }).proxyHops, value).toBe(hops);
    }
    expect(loadConfig({ SESAME_CONFIG: configFile({ trustProxy: true }) }).proxyHops).toBe(1);
    expect(loadConfig({ SESAME_CONFIG: configFile({ trustProxy: 3 }) }).proxyHops).toBe(3);
    expect(() => loadConfig({ SESAME_CONFIG: configFile({ trustProxy: -1 }) })).toThrowError(/^invalid configuration at trustProxy: /);
  });

  it('refuses a headers timeout longer than the request timeout', () => {
    expect(() => loadConfig({ SESAME_CONFIG: configFile({ http: { headersTimeout: 40, requestTimeout: 30 } }) })).toThrowError(
      'invalid configuration at http.headersTimeout: must not exceed http.requestTimeout',
    );
  });
});
