// The audit log's shared reading rules (passwordless/audit-log.ts): the type list a filter takes and
// the CSV cells (RFC 4180 quoting; anything a spreadsheet would run as a formula stays text).
import { describe, expect, it } from 'vitest';
import { csvCell, parseAuditTypes } from '../../src/passwordless/audit-log.js';

describe('audit log reading rules', () => {
  it('takes a comma list of type names, trimmed and without repeats, and refuses anything else', () => {
    expect(parseAuditTypes(' login, passkey.login ,,login,code.send_limited ')).toEqual(['login', 'passkey.login', 'code.send_limited']);
    expect(parseAuditTypes('login;drop')).toBeNull();
    expect(parseAuditTypes('log in')).toBeNull();
    expect(parseAuditTypes(Array.from({ length: 31 }, (_, i) => `t${i}`).join(','))).toBeNull();
  });

  it('quotes CSV cells per RFC 4180 and neutralises formulas', () => {
    expect([null, 3, 'plain', 'a,b', 'say "hi"', 'two\nlines', 'cr\rhere'].map(csvCell)).toEqual(['', '3', 'plain', '"a,b"', '"say ""hi"""', '"two\nlines"', '"cr\rhere"']);
    expect(['=1+1', '+1', '-1', '@SUM(A1)', '\t=1', '\r=1', '=HYPERLINK("http://x","y")'].map(csvCell)).toEqual([
      "'=1+1",
      "'+1",
      "'-1",
      "'@SUM(A1)",
      "'\t=1",
      `"'\r=1"`,
      `"'=HYPERLINK(""http://x"",""y"")"`,
    ]);
  });
});
