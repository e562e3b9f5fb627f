// Periodic removal of expired rows, so tables stay the size of live state.
import type { Db } from './db.js';
import { sweepOidcPayloads } from './oidc-adapter.js';
import { sweepCodes } from './codes.js';
import { sweepCounters } from './counters.js';
import { sweepOutbox } from './outbox.js';
import { sweepTickets } from './login-tickets.js';
import { sweepLinks } from './magic-links.js';
import { sweepExternalStates } from './external.js';

export async function sweepExpired(db: Db, now = new Date()) {
  return {
    oidc: await sweepOidcPayloads(db, now),
    codes: await sweepCodes(db, now),
    counters: await sweepCounters(db, now),
    outbox: await sweepOutbox(db, now),
    tickets: await sweepTickets(db, now),
    links: await sweepLinks(db, now),
    externalStates: await sweepExternalStates(db, now),
  };
}
