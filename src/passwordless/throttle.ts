// The code limits of risk/code-limits.ts for a requester given by its IP (and browser): this layer
// knows requester networks, so it adds the network the limits are keyed by.
import type { Db } from '../storage/db.js';
import type { CodeLimitSettings } from '../risk/limits.js';
import * as codeLimits from '../risk/code-limits.js';
import { requesterNetwork } from './requester-network.js';

/** The limits of code sends and checks (config `codes` and `rateLimits`, and a flow's overrides). */
export type ThrottlePolicy = CodeLimitSettings;

/** Who asks: the IP and, from the hosted pages, the browser's id (a signed cookie). */
export interface Asker {
  ip: string;
  browser?: string;
}

function askerOf(who: Asker): codeLimits.Asker {
  return { ip: who.ip, network: requesterNetwork(who.ip), browser: who.browser };
}

/** Called before sending a code; claims the cooldown when the send may go ahead (and reads the user of `userEmail`, see risk/code-limits.ts). */
export async function checkSend(db: Db, p: ThrottlePolicy, identifier: string, who: Asker, userEmail?: string, now = new Date()) {
  return codeLimits.checkSend(db, p, identifier, askerOf(who), now, userEmail);
}

/** Seconds before this requester may send to `identifier` again (for the page's countdown). */
export async function sendCooldownLeft(db: Db, p: ThrottlePolicy, identifier: string, who: Asker, now = new Date()) {
  return codeLimits.sendCooldownLeft(db, p, identifier, askerOf(who), now);
}

/** Called before checking a code for `identifier`: reserves the attempt as a failure (risk/code-limits.ts). */
export async function reserveVerify(db: Db, p: ThrottlePolicy, identifier: string | undefined, who: Asker, now = new Date()) {
  return codeLimits.reserveVerify(db, p, identifier, askerOf(who), now);
}

/** After a right code: the reserved attempt was no failure. */
export async function settleVerify(db: Db, reservation: codeLimits.VerifyReservation): Promise<void> {
  await codeLimits.settleVerify(db, reservation);
}

/** Remembers that `browser` signed in as `identifier`: it gets its own limits there for a while. */
export async function trustBrowser(db: Db, p: Pick<ThrottlePolicy, 'trustedBrowserTtl'>, identifier: string, browser: string, now = new Date()) {
  await codeLimits.trustBrowser(db, p, identifier, browser, now);
}
