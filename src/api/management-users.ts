// What the management API's per-user support routes (a user's passkeys, a user's second factors)
// share: the user the path names, and who is removing on their behalf (for the audit).
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { notFound } from '../http/errors.js';
import type { Remover } from '../passwordless/passkey-support.js';
import { storable } from '../storage/db.js';
import { findUserById } from '../storage/users.js';
import { managementClientOf } from './admin-auth.js';

/** The id of the user the path's `:id` names (by id only: the API has no lookup by identifier yet), else 404. */
export async function pathUser(s: Pick<Services, 'db'>, ctx: Context): Promise<string> {
  const id = ctx.params.id as string;
  const user = storable(id) ? await findUserById(s.db, id) : null;
  if (!user) throw notFound('No user with this id.');
  return user.id;
}

/** The management client removing something of a user's, as the audit records it. */
export function managementRemover(ctx: Context): Remover {
  return { via: 'management_api', clientId: managementClientOf(ctx), ip: ctx.ip };
}
