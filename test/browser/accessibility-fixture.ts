// What the accessibility walk (accessibility.test.ts) needs besides Sesame: an app to link back to,
// the words it looks for on each language's pages, and the dev outbox's message shape.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An app with pages the browser can reach (its home is client_uri, so Sesame's pages link back to it). */
export async function startShop(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title><link rel="icon" href="data:,"></head><body><h1>Shop</h1></body></html>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** What each language's pages say where the walk needs to find a control. */
export const WORDS = {
  en: {
    identifier: 'Email or phone number',
    send: 'Send me a code',
    code: 'Sign-in code',
    signIn: 'Sign in',
    allow: 'Allow',
    otherDevice: 'Signing in on another device?',
    continueLink: 'Continue',
    number: 'Number shown on your other device',
    approve: 'Approve sign-in',
    haveCode: 'I already have a code',
    logoutYes: 'Yes, sign me out',
    signedOut: 'You are signed out',
    nameHeading: 'What should we call you?',
    name: 'Your name',
    nameSave: 'Continue',
    nameSkip: 'Skip',
    signedIn: 'You are signed in',
    continueTo: 'Continue to Shop',
    backTo: 'Back to Shop',
    details: 'Technical details',
  },
  fr: {
    identifier: 'Adresse e-mail ou numéro de téléphone',
    send: 'Recevoir un code',
    code: 'Code de connexion',
    signIn: 'Se connecter',
    allow: 'Autoriser',
    otherDevice: 'Vous vous connectez sur un autre appareil\u00a0?',
    continueLink: 'Continuer',
    number: 'Nombre affiché sur votre autre appareil',
    approve: 'Approuver la connexion',
    haveCode: 'J’ai déjà un code',
    logoutYes: 'Oui, me déconnecter',
    signedOut: 'Vous êtes déconnecté',
    nameHeading: 'Comment devons\u2011nous vous appeler\u00a0?',
    name: 'Votre nom',
    nameSave: 'Continuer',
    nameSkip: 'Passer',
    signedIn: 'Vous êtes connecté',
    continueTo: 'Continuer vers Shop',
    backTo: 'Retour à Shop',
    details: 'Détails techniques',
  },
};

export interface OutboxMessage {
  id: string;
  recipient: string;
  subject: string | null;
  text: string | null;
}
