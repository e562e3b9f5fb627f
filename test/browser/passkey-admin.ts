// Shared by the console's Chromium tests: a user with a passkey made by the real registration
// ceremony (the soft authenticator), and a page whose DevTools virtual authenticator holds it, so the
// email page's passkey autofill signs them in with nothing typed. `admin` grants the role directly
// (the CLI's own grant is tested in admin-console.test.ts).
import type { BrowserContextOptions } from 'playwright-core';
import type { ChromiumSession } from '../helpers/browser.js';
import { watchProblems } from '../helpers/browser.js';
import type { TestSesame } from '../helpers/sesame.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { addVirtualAuthenticator, plantCredential } from '../helpers/virtual-authenticator.js';
import { finishRegistration, startRegistration } from '../../src/passwordless/passkeys.js';
import { insertPasskey } from '../../src/storage/passkeys.js';
import { setAdmin, upsertVerifiedEmailUser } from '../../src/storage/users.js';

/** A new user with `email` and a stored passkey; the credential to plant in a virtual authenticator. */
export async function userWithPasskey(t: TestSesame, email: string) {
  const deps = t.sesame.services;
  const user = await upsertVerifiedEmailUser(deps.db, email);
  const soft = new SoftAuthenticator({ origin: t.issuer });
  const { handle, options } = await startRegistration(deps, { user }, { boundTo: 'test' });
  const registered = await finishRegistration(deps, handle, soft.register(options), { boundTo: 'test' });
  const passkey = await insertPasskey(deps.db, { ...registered.credential, userId: user.id });
  return { user, credential: soft.exportCredential(passkey.id) };
}

/** A page (new context) whose virtual authenticator holds a passkey of a new user, an admin unless `admin: false`; `expected` console messages are not problems. */
export async function passkeyPage(
  t: TestSesame,
  chromium: ChromiumSession,
  email: string,
  options: { admin?: boolean; context?: BrowserContextOptions; expected?: (text: string, url: string) => boolean } = {},
) {
  const { user, credential } = await userWithPasskey(t, email);
  if (options.admin !== false) await setAdmin(t.sesame.services.db, user.id, true);
  const context = await chromium.newContext({ locale: 'en-US', ...options.context });
  const page = await context.newPage();
  const authenticator = await addVirtualAuthenticator(context, page);
  await plantCredential(authenticator, credential);
  return { user, page, context, authenticator, problems: watchProblems(page, options.expected) };
}
