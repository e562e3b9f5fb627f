// The "Two-step verification" section of /account: the user's confirmed second factors as the page
// and the confirmation emails name them (an authenticator app, the phone ending in 23, an email
// address, recovery codes with how many are left), and what may be added.
import type { Services } from '../services.js';
import { listFactors, type Factor } from '../passwordless/mfa/factors.js';
import { offeredFactorTypes } from '../passwordless/mfa/policy.js';

export interface FactorLabel {
  key: string;
  vars: Record<string, string | number>;
}

/** How the page and the emails name a factor: never the whole phone number (shoulder surfing, emails). */
export function factorLabel(factor: Pick<Factor, 'type' | 'phoneNumber' | 'email' | 'remaining'>): FactorLabel {
  if (factor.type === 'sms') return { key: 'account.mfa.sms', vars: { last: (factor.phoneNumber ?? '').slice(-2) } };
  if (factor.type === 'email') return { key: 'account.mfa.email', vars: { email: factor.email ?? '' } };
  if (factor.type === 'recovery-code') return { key: 'account.mfa.recovery', vars: {} };
  return { key: 'account.mfa.totp', vars: {} };
}

export function factorText(s: Pick<Services, 'renderer'>, locale: string, factor: Parameters<typeof factorLabel>[0]): string {
  const { key, vars } = factorLabel(factor);
  return s.renderer.translate(locale, key, vars);
}

/** The user's confirmed factors (recovery codes last), for the page. */
export async function confirmedFactors(s: Pick<Services, 'db'>, userId: string): Promise<Factor[]> {
  const factors = (await listFactors(s, userId)).filter((f) => f.confirmed);
  return [...factors.filter((f) => f.type !== 'recovery-code'), ...factors.filter((f) => f.type === 'recovery-code')];
}

/** Whether the user has a second factor recovery codes can stand in for (codes alone are no factor). */
export function hasSecondFactor(factors: readonly Factor[]): boolean {
  return factors.some((f) => f.type !== 'recovery-code');
}

/** The section's data: each factor (label, dates, recovery codes left), and the buttons that apply. */
export async function mfaSection(s: Pick<Services, 'db' | 'config'>, userId: string, when: (d: Date) => string) {
  const factors = await confirmedFactors(s, userId);
  const offered = offeredFactorTypes(s.config);
  return {
    factors: factors.map((f) => ({
      id: f.id,
      ...factorLabel(f),
      recovery: f.type === 'recovery-code',
      remaining: f.remaining ?? 0,
      created: when(f.createdAt),
      lastUsed: f.lastUsedAt ? when(f.lastUsedAt) : null,
    })),
    canAddApp: offered.includes('totp') && !factors.some((f) => f.type === 'totp'),
    // New recovery codes only beside a real factor, and only while the operator offers them.
    canRegenerate: offered.includes('recovery-code') && hasSecondFactor(factors),
    hasRecovery: factors.some((f) => f.type === 'recovery-code'),
  };
}
