// Chromium's CDP virtual authenticator (PROTOCOLS-NEXT B.2): a platform authenticator with resident
// keys and user verification that answers by itself. It belongs to one page; a new page needs its own.
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import type { ExportedCredential } from './soft-authenticator.js';

export interface VirtualAuthenticator {
  cdp: CDPSession;
  authenticatorId: string;
}

export async function addVirtualAuthenticator(context: BrowserContext, page: Page): Promise<VirtualAuthenticator> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      ctap2Version: 'ctap2_1',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

/** Puts a credential made by the soft authenticator (a passkey Sesame already stores) into `authenticator`, as a resident key. */
export async function plantCredential({ cdp, authenticatorId }: VirtualAuthenticator, credential: ExportedCredential): Promise<void> {
  // CDP wants standard base64 where the soft authenticator exports base64url.
  const std = (base64url: string) => Buffer.from(base64url, 'base64url').toString('base64');
  await cdp.send('WebAuthn.addCredential', {
    authenticatorId,
    credential: {
      credentialId: std(credential.id),
      isResidentCredential: true,
      rpId: credential.rpId,
      privateKey: std(credential.privateKey),
      userHandle: std(credential.userHandle),
      signCount: credential.signCount,
    },
  });
}
