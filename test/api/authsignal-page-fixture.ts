// The pre-built challenge page and client API tests' Sesame: a tenant (client `shop`) with its
// origin and redirect URI, another tenant, and an action `pay` that always asks for a challenge by
// email code, authenticator app or recovery code. Actions are tracked in-process (trackAction)
// and their track tokens minted as the server API would, so these tests need only the page's part.
import { randomUUID } from 'node:crypto';
import type { Services } from '../../src/services.js';
import { trackAction, type ActionRequest } from '../../src/passwordless/actions.js';
import { mintActionToken } from '../../src/passwordless/action-tokens.js';
import { challengePageUrl } from '../../src/api/authsignal-common.js';
import type { ActionDecisionRow } from '../../src/storage/action-decisions.js';

export const SHOP_ORIGIN = 'https://shop.example';
export const OTHER_ORIGIN = 'https://other.example';

export function pageFixture(shopOrigin = SHOP_ORIGIN) {
  return {
    clients: [
      { client_id: 'shop', client_secret: 'shop-secret-shop-secret-shop-secret', redirect_uris: [`${shopOrigin}/cb`], web_origins: [shopOrigin] },
      { client_id: 'other', client_secret: 'other-secret-other-secret-other-sec', redirect_uris: [`${OTHER_ORIGIN}/cb`] },
    ],
    codes: { resendCooldown: 1, sendsPerHour: 50 },
    rateLimits: { sendsPerIpPerHour: 500 },
    actions: {
      policies: {
        pay: { defaultOutcome: 'CHALLENGE', verificationMethods: ['EMAIL_OTP', 'AUTHENTICATOR_APP', 'RECOVERY_CODE'], rules: [] },
        signin: { defaultOutcome: 'CHALLENGE', verificationMethods: ['PASSKEY', 'EMAIL_OTP'], rules: [] },
      },
    },
  };
}

export interface TrackedAction {
  row: ActionDecisionRow;
  token: string;
  url: string;
}

/** Tracks `pay` for a new user of `shop` (or `req.userId`), with its track token and page URL. */
export async function trackPay(s: Services, req: Partial<ActionRequest> = {}): Promise<TrackedAction> {
  const { row } = await trackAction(s, { tenantId: 'shop', userId: `u-${randomUUID()}`, actionCode: 'pay', ip: '203.0.113.7', ...req });
  const { token } = await mintActionToken(
    { cookieKeys: s.cookieKeys, issuer: s.config.issuer },
    'track',
    { tenantId: row.tenantId, userId: row.userId, actionCode: row.actionCode, idempotencyKey: row.idempotencyKey },
    s.config.actions.tokenTtl,
  );
  return { row, token, url: challengePageUrl(s.config.issuer, token) };
}
