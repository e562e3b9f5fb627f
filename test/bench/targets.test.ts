// The bench's command line and its targets (bench/options.ts, report.ts checksOf, actions.ts
// actionChecks), its pools' sizing (pools.ts) and its CPU sampling (scenarios.ts sampled): the
// defaults of a run, the options refused, each new row's target printed PASS or MISS from the
// numbers of a measurement, on both sides of its limit. No server runs here.
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { actionChecks } from '../../bench/actions.js';
import { options, UsageError } from '../../bench/options.js';
import { DRY_FACTOR, MARGIN, rateOf, shortfall } from '../../bench/pools.js';
import { checksOf, markdownTable, poolCheck, type Row } from '../../bench/report.js';
import { sampled } from '../../bench/scenarios.js';

function row(fields: Partial<Row> & Pick<Row, 'scenario'>): Row {
  return {
    target: 'sqlite',
    workers: 1,
    rps: 50,
    rounds: [50],
    p50: 40,
    p99: 120,
    requests: 500,
    errors: 0,
    non2xx: 0,
    statusCodes: {},
    cpu: 50,
    loadCpu: 0,
    dbCpu: 0,
    otherCpu: 0,
    rssPeakMiB: 200,
    ratio: null,
    ...fields,
  };
}

describe('bench options', () => {
  it('warms up 10 s and measures 10 s per target in 5 alternating rounds by default, with refresh tokens for every round', () => {
    const o = options([]);
    // Five warm-up rounds and five measured ones of 2 s, each losing a token per connection, and two spare.
    expect([o.duration, o.warmup, o.rounds, o.connections, o.pool, o.mfaPool]).toEqual([10, 10, 5, 50, (5 + 5 + 2) * 50, 'auto']);
    expect(options(['--duration', '3', '--warmup', '3', '--connections', '20']).pool).toBe((5 + 5 + 2) * 20);
    expect(o.scenarios).toEqual(expect.arrayContaining(['mfa_otp', 'mfa_oob', 'mfa_recovery', 'passkey_signin', 'code_flow_risk', 'actions_track']));
    expect(o.otpPool).toBe('auto');
  });

  it('takes the new rows, --rounds and --warmup, and refuses rounds shorter than half a second', () => {
    const o = options(['--only', 'passkey_signin,mfa_otp', '--duration', '3', '--rounds', '3', '--warmup', '5', '--mfa-pool', '40']);
    expect([o.scenarios, o.duration, o.rounds, o.warmup, o.mfaPool]).toEqual([['mfa_otp', 'passkey_signin'], 3, 3, 5, 40]);
    expect(() => options(['--duration', '1', '--rounds', '3'])).toThrow(UsageError);
    expect(() => options(['--rounds', '2.5'])).toThrow('--rounds must be a whole number');
    expect(() => options(['--only', 'passkey'])).toThrow('unknown scenario "passkey"');
    expect(options(['--only', 'mfa_recovery,mfa_oob', '--otp-pool', '100']).scenarios).toEqual(['mfa_oob', 'mfa_recovery']);
  });
});

describe('bench pools', () => {
  it('fills a pool to MARGIN × the rate for a round, plus one a connection in flight, and never takes any away', () => {
    expect(MARGIN).toBe(1.5);
    // 1,200 codes/s over a 1 s round: 1,800 + 50 in flight, 300 left.
    expect(shortfall(300, 1200, 1, 50)).toBe(1550);
    expect(shortfall(5000, 1200, 1, 50)).toBe(0);
    expect(shortfall(0, 0, 1, 50)).toBe(50);
  });

  it('learns the rate a round used its pool at, and more than it shows when the round ran dry', () => {
    expect(rateOf(2400, 2, false)).toBe(1200);
    expect(rateOf(2400, 2, true)).toBe(1200 * DRY_FACTOR);
    expect(rateOf(10, 0, false)).toBe(0);
  });

  it('prints PASS when no pool ran dry, and MISS naming each row that did', () => {
    const rows = [row({ scenario: 'otp_grant', poolDry: 0 }), row({ scenario: 'mfa_oob', target: 'postgresql', workers: 2, poolDry: 0 })];
    expect(poolCheck(rows)).toEqual({ pass: true, what: 'no pool ran dry in a measured round (otp_grant, mfa_oob)' });
    expect(poolCheck([row({ scenario: 'otp_grant', poolDry: 7289 }), row({ scenario: 'mfa_oob', target: 'postgresql', workers: 2, poolDry: 10 })])).toEqual({
      pass: false,
      what: 'pools ran dry in measured rounds: otp_grant on sqlite (7289 requests without), mfa_oob on postgresql ×2 (10 sign-ins without)',
    });
    expect(checksOf([row({ scenario: 'mfa_recovery', poolDry: 3 })], []).map((c) => c.pass)).toEqual([true, false, true]);
  });
});

describe('bench sampling', () => {
  it('samples CPU over half a second at least: a round that ends at once (its pool dry) shows no absurd share of the cores', async () => {
    const target = { name: 'sqlite' as const, url: 'http://127.0.0.1:9', pid: process.pid, sesame: true, workers: 1, stop: async () => {} };
    const { usage } = await sampled(target, async () => 'done');
    const cores = availableParallelism() * 100;
    expect([usage.cpu, usage.loadCpu, usage.otherCpu].map((share) => share <= cores)).toEqual([true, true, true]);
  });
});

describe('bench targets', () => {
  it('prints passkey_signin and each MFA grant PASS with a p99 within 200 ms and no error, MISS otherwise', () => {
    const rows = [
      row({ scenario: 'passkey_signin', p99: 200 }),
      row({ scenario: 'mfa_otp', p99: 201 }),
      row({ scenario: 'mfa_otp', target: 'postgresql', p99: 150, non2xx: 1 }),
      row({ scenario: 'mfa_oob', p99: 200 }),
      row({ scenario: 'mfa_oob', target: 'postgresql', workers: 2, p99: 250 }),
      row({ scenario: 'mfa_recovery', p99: 199 }),
      row({ scenario: 'mfa_recovery', target: 'postgresql', p99: 100, errors: 1 }),
    ];
    const checks = checksOf(rows, []).filter((c) => /^(passkey_signin|mfa_\w+) /.test(c.what));
    expect(checks).toEqual([
      { pass: true, what: 'passkey_signin on sqlite: 50.0 sign-ins/s, p50 40 ms, p99 200 ms, 10.0 ms of server CPU each (target p99 <= 200 ms)' },
      { pass: false, what: 'mfa_otp on sqlite: 50.0 sign-ins/s, p50 40 ms, p99 201 ms, 10.0 ms of server CPU each (target p99 <= 200 ms)' },
      { pass: false, what: 'mfa_otp on postgresql: 50.0 sign-ins/s, p50 40 ms, p99 150 ms, 10.0 ms of server CPU each (target p99 <= 200 ms)' },
      { pass: true, what: 'mfa_oob on sqlite: 50.0 sign-ins/s, p50 40 ms, p99 200 ms, 10.0 ms of server CPU each (target p99 <= 200 ms)' },
      { pass: false, what: 'mfa_oob on postgresql ×2: 50.0 sign-ins/s, p50 40 ms, p99 250 ms, 10.0 ms of server CPU each (target p99 <= 200 ms)' },
      { pass: true, what: 'mfa_recovery on sqlite: 50.0 sign-ins/s, p50 40 ms, p99 199 ms, 10.0 ms of server CPU each (target p99 <= 200 ms)' },
      { pass: false, what: 'mfa_recovery on postgresql: 50.0 sign-ins/s, p50 40 ms, p99 100 ms, 10.0 ms of server CPU each (target p99 <= 200 ms)' },
    ]);
  });

  it('prints code_flow PASS from 90 sign-ins/s with one process and 150 with two, without errors; none for the baseline', () => {
    const rows = [
      row({ scenario: 'code_flow', target: 'baseline', rps: 400 }),
      row({ scenario: 'code_flow', rps: 90 }),
      row({ scenario: 'code_flow', target: 'postgresql', rps: 89.9 }),
      row({ scenario: 'code_flow', workers: 2, rps: 150, cpu: 150 }),
      row({ scenario: 'code_flow', target: 'postgresql', workers: 2, rps: 200, errors: 1 }),
    ];
    expect(checksOf(rows, []).filter((c) => c.what.startsWith('code_flow '))).toEqual([
      { pass: true, what: 'code_flow on sqlite: 90.0 sign-ins/s, p50 40 ms, 5.6 ms of server CPU each (target >= 90 sign-ins/s, no error)' },
      { pass: false, what: 'code_flow on postgresql: 89.9 sign-ins/s, p50 40 ms, 5.6 ms of server CPU each (target >= 90 sign-ins/s, no error)' },
      { pass: true, what: 'code_flow on sqlite ×2: 150.0 sign-ins/s, p50 40 ms, 10.0 ms of server CPU each (target >= 150 sign-ins/s, no error)' },
      { pass: false, what: 'code_flow on postgresql ×2: 200.0 sign-ins/s, p50 40 ms, 2.5 ms of server CPU each (target >= 150 sign-ins/s, no error)' },
    ]);
  });

  it('prints actions_track PASS only with p50 and p99 both within their budgets for the connections', () => {
    const rows = [row({ scenario: 'actions_track', rps: 500, p50: 100, p99: 250 }), row({ scenario: 'actions_track', target: 'postgresql', rps: 500, p50: 101, p99: 200 })];
    expect(actionChecks(rows, [], 50)).toEqual([
      {
        pass: true,
        what: 'actions_track on sqlite: 500 tracks/s, p50 100 ms, p99 250 ms, 1.0 ms of server CPU each (target p50 <= 100 ms, p99 <= 250 ms: 2 and 5 ms × 50 connections)',
      },
      {
        pass: false,
        what: 'actions_track on postgresql: 500 tracks/s, p50 101 ms, p99 200 ms, 1.0 ms of server CPU each (target p50 <= 100 ms, p99 <= 250 ms: 2 and 5 ms × 50 connections)',
      },
    ]);
  });

  it('prints code_flow_risk against code_flow measured beside it on the same server: PASS within ×1.1, MISS beyond', () => {
    const plain = [row({ scenario: 'code_flow', rps: 11 }), row({ scenario: 'code_flow', target: 'postgresql', rps: 11.1 })];
    const rows = [row({ scenario: 'code_flow_risk', rps: 10 }), row({ scenario: 'code_flow_risk', target: 'postgresql', rps: 10 })];
    const checks = actionChecks(rows, plain, 50);
    expect(checks.map((c) => c.pass)).toEqual([true, false]);
    expect(checks).toEqual([
      {
        pass: true,
        what: 'code_flow_risk vs code_flow on sqlite: 10 % slower with the ten-rule policy (target at most 10 % slower, no error); with it 10.0 sign-ins/s, p50 40 ms, 50.0 ms of server CPU each; without (the code_flow row beside it, rounds alternating) 11.0 sign-ins/s, p50 40 ms, 45.5 ms of server CPU each',
      },
      {
        pass: false,
        what: 'code_flow_risk vs code_flow on postgresql: 11 % slower with the ten-rule policy (target at most 10 % slower, no error); with it 10.0 sign-ins/s, p50 40 ms, 50.0 ms of server CPU each; without (the code_flow row beside it, rounds alternating) 11.1 sign-ins/s, p50 40 ms, 45.0 ms of server CPU each',
      },
    ]);
  });

  it('prints MISS for a run without errors that got no answer at all, and a faster code_flow_risk as faster', () => {
    const rows = [row({ scenario: 'otp_grant', target: 'postgresql', requests: 0, rps: 0 }), row({ scenario: 'client_credentials' })];
    expect(checksOf(rows, []).at(-1)).toEqual({ pass: false, what: 'errors: otp_grant on postgresql: nothing answered within its rounds, 0 errors, 0 non-2xx {}' });
    expect(checksOf([row({ scenario: 'client_credentials' })], []).at(-1)).toEqual({ pass: true, what: 'zero errors and non-2xx responses in every run, and answers in each' });
    const [faster] = actionChecks([row({ scenario: 'code_flow_risk', rps: 12.5 })], [row({ scenario: 'code_flow', rps: 10 })], 50);
    expect([faster!.pass, faster!.what.split(';')[0]]).toEqual([
      true,
      'code_flow_risk vs code_flow on sqlite: 20 % faster with the ten-rule policy (target at most 10 % slower, no error)',
    ]);
  });

  it('prints the code_flow measured beside code_flow_risk as a row of the table, and a dry pool in its errors cell', () => {
    const table = markdownTable(
      [row({ scenario: 'code_flow_risk', rps: 10 }), row({ scenario: 'otp_grant', rps: 900, poolDry: 12, non2xx: 12 })],
      [{ ...row({ scenario: 'code_flow', rps: 11 }), beside: 'code_flow_risk' }],
    );
    expect(table.split('\n').slice(2)).toEqual([
      '| code_flow_risk | sqlite | 10 | 40 | 120 | 0 / 0 |  | 50% / - / 0% | 200 |',
      '| otp_grant | sqlite | 900 | 40 | 120 | 0 / 12 (pool dry: 12) |  | 50% / - / 0% | 200 |',
      '| code_flow (beside code_flow_risk) | sqlite | 11 | 40 | 120 | 0 / 0 |  | 50% / - / 0% | 200 |',
    ]);
  });
});
