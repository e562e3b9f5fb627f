// The counters moved by recorded events: every audit event goes through countAudit (from
// recordAudit, after its row is written), so the sign-in, code and link counters say what the audit
// log says. Types not listed here (account changes, client changes...) are not counted. The same
// table (auditMeaning) tells the console's dashboard what a stored event counts as, so the charts and
// the metrics cannot disagree on what a sign-in or a failed code is.
import { codes, links, secondFactors, signIns } from './registry.js';

/** What countAudit reads of an audit entry (storage/audit.ts's AuditEntry fits). */
export interface AuditedEvent {
  type: string;
  identifier?: string | null;
  reason?: string | null;
}

/** What one event counts as, by the labels of each counter it moves. */
export interface AuditMeaning {
  signIn?: { method: string; outcome: 'success' | 'failure' };
  code?: { channel: 'email' | 'sms'; outcome: string };
  link?: string;
  secondFactor?: string;
}

/** A code's channel: phone numbers are stored in E.164 (the rule of passwordless/identifiers.ts's isPhoneIdentifier). */
const channelOf = (e: AuditedEvent) => (e.identifier?.startsWith('+') && !e.identifier.includes('@') ? 'sms' : 'email');

/** The method of a `login` event, from its reason (one-time-codes.ts, connections/routes.ts). */
function loginMethod(reason: string | null | undefined): string {
  if (reason === 'email_code' || reason === 'sms_code') return reason;
  return reason?.startsWith('external ') ? 'external' : 'other';
}

const MEANING = new Map<string, (e: AuditedEvent) => AuditMeaning>(
  Object.entries({
    login(e): AuditMeaning {
      const method = loginMethod(e.reason);
      const verified = method === 'email_code' || method === 'sms_code';
      return { signIn: { method, outcome: 'success' }, ...(verified && { code: { channel: channelOf(e), outcome: 'verified' } }) };
    },
    'code.failed': (e): AuditMeaning => ({ signIn: { method: `${channelOf(e)}_code`, outcome: 'failure' }, code: { channel: channelOf(e), outcome: 'failed' } }),
    'code.sent': (e): AuditMeaning => ({ code: { channel: channelOf(e), outcome: 'sent' } }),
    'code.send_limited': (e): AuditMeaning => ({ code: { channel: channelOf(e), outcome: 'limited' } }),
    'sms.refused': (): AuditMeaning => ({ code: { channel: 'sms', outcome: 'refused' } }),
    'link.used': (): AuditMeaning => ({ signIn: { method: 'link', outcome: 'success' }, link: 'used' }),
    'link.approved': (): AuditMeaning => ({ link: 'approved' }),
    'link.failed': (): AuditMeaning => ({ signIn: { method: 'link', outcome: 'failure' }, link: 'failed' }),
    'passkey.login': (): AuditMeaning => ({ signIn: { method: 'passkey', outcome: 'success' } }),
    'passkey.failed': (): AuditMeaning => ({ signIn: { method: 'passkey', outcome: 'failure' } }),
    'external.failed': (): AuditMeaning => ({ signIn: { method: 'external', outcome: 'failure' } }),
    'mfa.verified': (): AuditMeaning => ({ secondFactor: 'verified' }),
    'mfa.failed': (): AuditMeaning => ({ secondFactor: 'failed' }),
  }),
);

/** The audit types that count for something. */
export const COUNTED_AUDIT_TYPES: readonly string[] = [...MEANING.keys()];

/** What an event counts as (nothing for a type not listed). */
export function auditMeaning(event: AuditedEvent): AuditMeaning {
  return MEANING.get(event.type)?.(event) ?? {};
}

/** Moves the counters of one audit event (called once per event, repeats folded into one row included). */
export function countAudit(event: AuditedEvent): void {
  const meaning = auditMeaning(event);
  if (meaning.signIn) signIns.inc(meaning.signIn);
  if (meaning.code) codes.inc(meaning.code);
  if (meaning.link) links.inc({ outcome: meaning.link });
  if (meaning.secondFactor) secondFactors.inc({ outcome: meaning.secondFactor });
}
