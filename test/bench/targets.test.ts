// The bench's command line and its targets (bench/options.ts, report.ts checksOf, actions.ts
// actionChecks): the defaults of a run, the options refused, and each new row's target printed
// PASS or MISS from the numbers of a measurement, on both sides of its limit. No server runs here.
import { describe, expect, it } from 'vitest';
import { actionChecks } from '../../bench/actions.js';
import { options, UsageError } from '../../bench/options.js';
import { checksOf, type Row } from '../../bench/report.js';

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
    expect(o.scenarios).toEqual(expect.arrayContaining(['mfa_otp', 'passkey_signin', 'code_flow_risk', 'actions_track']));
  });

  it('takes the new rows, --rounds and --warmup, and refuses rounds shorter than half a second', () => {
    const o = options(['--only', 'passkey_signin,mfa_otp', '--duration', '3', '--rounds', '3', '--warmup', '5', '--mfa-pool', '40']);
    expect([o.scenarios, o.duration, o.rounds, o.warmup, o.mfaPool]).toEqual([['mfa_otp', 'passkey_signin'], 3, 3, 5, 40]);
    expect(() => options(['--duration', '1', '--rounds', '3'])).toThrow(UsageError);
    expect(() => options(['--rounds', '2.5'])).toThrow('--rounds must be a whole number');
    expect(() => options(['--only', 'passkey'])).toThrow('unknown scenario "passkey"');
  });
});

describe('bench targets', () => {
  it('prints passkey_signin and mfa_otp PASS with a p99 within 200 ms and no error, MISS otherwise', () => {
    const rows = [row({ scenario: 'passkey_signin', p99: 200 }), row({ scenario: 'mfa_otp', p99: 201 }), row({ scenario: 'mfa_otp', target: 'postgresql', p99: 150, non2xx: 1 })];
    const checks = checksOf(rows, []).filter((c) => /^(passkey_signin|mfa_otp) /.test(c.what));
    expect(checks).toEqual([
      { pass: true, what: 'passkey_signin on sqlite: 50.0 sign-ins/s, p50 40 ms, p99 200 ms, 10.0 ms of server CPU each (target p99 <= 200 ms)' },
      { pass: false, what: 'mfa_otp on sqlite: 50.0 sign-ins/s, p50 40 ms, p99 201 ms, 10.0 ms of server CPU each (target p99 <= 200 ms)' },
      { pass: false, what: 'mfa_otp on postgresql: 50.0 sign-ins/s, p50 40 ms, p99 150 ms, 10.0 ms of server CPU each (target p99 <= 200 ms)' },
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
    expect(checks[1]!.what).toBe(
      'code_flow_risk on postgresql: ×1.11 the time of a sign-in without a policy (target at most ×1.1); with the ten-rule policy 10.0/s, p50 40 ms, CPU 50.0 ms; without, in rounds alternating with those, 11.1/s, p50 40 ms, CPU 45.0 ms (server CPU a sign-in)',
    );
  });
});
