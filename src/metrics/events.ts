// The counters moved by recorded events: every audit event goes through countAudit (from
// recordAudit, after its row is written), so the sign-in, code and link counters say what the audit
// log says. Types not listed here (account changes, client changes...) are not counted.
import { codes, links, secondFactors, signIns } from './registry.js';

/** What countAudit reads of an audit entry (storage/audit.ts's AuditEntry fits). */
export interface AuditedEvent {
  type: string;
  identifier?: string | null;
  reason?: string | null;
}

/** A code's channel: phone numbers are stored in E.164 (the rule of passwordless/identifiers.ts's isPhoneIdentifier). */
const channelOf = (e: AuditedEvent) => (e.identifier?.startsWith('+') && !e.identifier.includes('@') ? 'sms' : 'email');

/** The method of a `login` event, from its reason (one-time-codes.ts, connections/routes.ts). */
function loginMethod(reason: string | null | undefined): string {
  if (reason === 'email_code' || reason === 'sms_code') return reason;
  return reason?.startsWith('external ') ? 'external' : 'other';
}

const COUNT = new Map<string, (e: AuditedEvent) => void>(
  Object.entries({
    login(e) {
      const method = loginMethod(e.reason);
      signIns.inc({ method, outcome: 'success' });
      if (method === 'email_code' || method === 'sms_code') codes.inc({ channel: channelOf(e), outcome: 'verified' });
    },
    'code.failed'(e) {
      const channel = channelOf(e);
      signIns.inc({ method: `${channel}_code`, outcome: 'failure' });
      codes.inc({ channel, outcome: 'failed' });
    },
    'code.sent': (e) => codes.inc({ channel: channelOf(e), outcome: 'sent' }),
    'code.send_limited': (e) => codes.inc({ channel: channelOf(e), outcome: 'limited' }),
    'sms.refused': () => codes.inc({ channel: 'sms', outcome: 'refused' }),
    'link.used'() {
      signIns.inc({ method: 'link', outcome: 'success' });
      links.inc({ outcome: 'used' });
    },
    'link.approved': () => links.inc({ outcome: 'approved' }),
    'link.failed'() {
      signIns.inc({ method: 'link', outcome: 'failure' });
      links.inc({ outcome: 'failed' });
    },
    'passkey.login': () => signIns.inc({ method: 'passkey', outcome: 'success' }),
    'passkey.failed': () => signIns.inc({ method: 'passkey', outcome: 'failure' }),
    'external.failed': () => signIns.inc({ method: 'external', outcome: 'failure' }),
    'mfa.verified': () => secondFactors.inc({ outcome: 'verified' }),
    'mfa.failed': () => secondFactors.inc({ outcome: 'failed' }),
  }),
);

/** Moves the counters of one audit event (called once per event, repeats folded into one row included). */
export function countAudit(event: AuditedEvent): void {
  COUNT.get(event.type)?.(event);
}
