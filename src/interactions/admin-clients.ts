// The admin console's CLIENTS pages (/admin/clients): the list, a new client, one client's metadata
// to edit, its secret to rotate (the new one shown on the answer to that POST, never again) and its
// removal after a confirm page. Every change goes through oidc/client-registry.ts, as the CLI and the
// management API do, so the same rules hold (config-file clients and Sesame's own are refused) and
// each change is audited with the admin's id. A refusal re-shows the form with the field marked.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { storable } from '../storage/db.js';
import {
  ClientRegistryError,
  type ClientView,
  type Registry,
  createClient,
  getRegisteredClient,
  isSesameClient,
  listRegisteredClients,
  removeClient,
  rotateClientSecret,
  updateClient,
} from '../oidc/client-registry.js';
import type { PageSession } from './first-party-session.js';
import { adminCsrf, adminForPage, adminForPost } from './admin-session.js';
import { pageLocale } from './account-page.js';
import { FORM_GRANTS, NEW_CLIENT, type ClientForm, type Field, fieldOf, formOf, metadataOf, newMetadataOf, readForm } from './admin-client-form.js';

const DONE = new Set(['created', 'saved', 'removed']);
const registry = (s: Services, admin: PageSession): Registry => ({ db: s.db, config: s.config, provider: s.provider, via: `console by admin:${admin.userId}` });
const clientPath = (id: string) => `/admin/clients/${encodeURIComponent(id)}`;

function pathClient(ctx: Context): string {
  const id = ctx.params.id as string;
  if (!storable(id)) throw new SesameError('notFound', { detail: 'No such client.' });
  return id;
}

/** The client, or the console's 404 page; Sesame's own clients (never listed) are refused by name. */
async function findClient(s: Services, admin: PageSession, id: string): Promise<ClientView> {
  if (isSesameClient(id)) throw new SesameError('sesameClient');
  try {
    return await getRegisteredClient(registry(s, admin), id);
  } catch (err) {
    if (err instanceof ClientRegistryError) throw new SesameError('notFound', { detail: 'No such client.' });
    throw err;
  }
}

async function render(s: Services, ctx: Context, admin: PageSession, template: string, title: string, locals: Record<string, unknown>) {
  ctx.type = 'html';
  ctx.body = await s.renderer.page(template, pageLocale(s, ctx), { title, section: 'clients', csrf: adminCsrf(s, admin), ...locals });
}

/** GET /admin/clients */
export async function showClients(s: Services, ctx: Context): Promise<void> {
  const admin = await adminForPage(s, ctx, '/admin/clients');
  if (!admin) return;
  const clients = (await listRegisteredClients(registry(s, admin))).map((c) => ({
    id: c.client_id,
    name: typeof c.client_name === 'string' ? c.client_name : null,
    isPublic: c.token_endpoint_auth_method === 'none',
    redirects: Array.isArray(c.redirect_uris) ? c.redirect_uris.length : 0,
    management: c.management_api === true,
    fromConfig: c.source === 'config',
    href: clientPath(c.client_id),
  }));
  const done = typeof ctx.query.done === 'string' && DONE.has(ctx.query.done) ? `admin.clients.${ctx.query.done}` : null;
  await render(s, ctx, admin, 'admin-clients', 'admin.clients.title', { clients, notice: done });
}

interface FormState {
  form: ClientForm;
  field?: Field | null;
  error?: string | null;
  detail?: string | null;
}

async function renderForm(s: Services, ctx: Context, admin: PageSession, client: ClientView | null, state: FormState) {
  await render(s, ctx, admin, client ? 'admin-client' : 'admin-client-new', client ? 'admin.clients.edit_title' : 'admin.clients.new_title', {
    client: client && { id: client.client_id, fromConfig: client.source === 'config', isPublic: client.token_endpoint_auth_method === 'none', href: clientPath(client.client_id) },
    form: state.form,
    grantChoices: FORM_GRANTS,
    field: state.field ?? null,
    error: state.error ?? null,
    detail: state.detail ?? null,
    notice: typeof ctx.query.done === 'string' && DONE.has(ctx.query.done) ? `admin.clients.${ctx.query.done}` : null,
  });
}

/** A registry refusal as the form shows it: 400 with the field marked, 409 for a conflict, 404 when it went. */
async function refuse(s: Services, ctx: Context, admin: PageSession, client: ClientView | null, form: ClientForm, err: unknown, errorKey?: string) {
  if (!(err instanceof ClientRegistryError)) throw err;
  if (err.problem === 'not_found') throw new SesameError('notFound', { detail: 'No such client.' });
  const field = err.problem === 'conflict' || errorKey ? (client ? null : 'client_id') : fieldOf(err.message);
  ctx.status = err.problem === 'conflict' ? 409 : 400;
  const invalid = field ? `admin.clients.invalid.${field}` : 'admin.clients.invalid.other';
  const error = errorKey ?? (err.problem === 'conflict' ? (client ? 'admin.clients.refused' : 'admin.clients.exists') : invalid);
  await renderForm(s, ctx, admin, client, { form, field, error, detail: err.message });
}

/** The page that shows a secret once: after creating a confidential client or rotating its secret. */
async function showSecret(s: Services, ctx: Context, admin: PageSession, clientId: string, secret: string, created: boolean) {
  await render(s, ctx, admin, 'admin-client-secret', 'admin.clients.secret_title', { clientId, secret, created, href: clientPath(clientId) });
}

/** GET /admin/clients/new */
export async function showNewClient(s: Services, ctx: Context): Promise<void> {
  const admin = await adminForPage(s, ctx, '/admin/clients/new');
  if (admin) await renderForm(s, ctx, admin, null, { form: NEW_CLIENT });
}

/** POST /admin/clients/new */
export async function submitNewClient(s: Services, ctx: Context): Promise<void> {
  const admin = await adminForPost(s, ctx);
  const form = readForm(ctx.request.body);
  let created: Awaited<ReturnType<typeof createClient>>;
  try {
    created = await createClient(registry(s, admin), newMetadataOf(form));
  } catch (err) {
    return refuse(s, ctx, admin, null, form, err);
  }
  if (created.client_secret) return showSecret(s, ctx, admin, created.client_id, created.client_secret, true);
  ctx.status = 303;
  ctx.redirect(`${clientPath(created.client_id)}?done=created`);
}

/** GET /admin/clients/:id */
export async function showClient(s: Services, ctx: Context): Promise<void> {
  const id = pathClient(ctx);
  const admin = await adminForPage(s, ctx, clientPath(id));
  if (!admin) return;
  const client = await findClient(s, admin, id);
  await renderForm(s, ctx, admin, client, { form: formOf(client) });
}

/** POST /admin/clients/:id: the metadata; a client turned confidential gets its secret shown once. */
export async function submitClient(s: Services, ctx: Context): Promise<void> {
  const admin = await adminForPost(s, ctx);
  const id = pathClient(ctx);
  const client = await findClient(s, admin, id);
  const form = { ...readForm(ctx.request.body), client_id: id };
  // Grants the form does not offer (the OTP grant, say) stay as they are.
  const kept = (Array.isArray(client.grant_types) ? (client.grant_types as string[]) : []).filter((g) => !(FORM_GRANTS as readonly string[]).includes(g));
  let updated: Awaited<ReturnType<typeof updateClient>>;
  try {
    const set = metadataOf(form);
    updated = await updateClient(registry(s, admin), id, { set: { ...set, grant_types: [...kept, ...form.grants] } });
  } catch (err) {
    return refuse(s, ctx, admin, client, form, err);
  }
  if (updated.client_secret) return showSecret(s, ctx, admin, id, updated.client_secret, false);
  ctx.status = 303;
  ctx.redirect(`${clientPath(id)}?done=saved`);
}

/** POST /admin/clients/:id/secret: a new secret on this answer only; the old one stops at once. */
export async function submitRotate(s: Services, ctx: Context): Promise<void> {
  const admin = await adminForPost(s, ctx);
  const id = pathClient(ctx);
  const client = await findClient(s, admin, id);
  try {
    const rotated = await rotateClientSecret(registry(s, admin), id);
    await showSecret(s, ctx, admin, id, rotated.client_secret, false);
  } catch (err) {
    await refuse(s, ctx, admin, client, formOf(client), err, err instanceof ClientRegistryError && err.problem === 'invalid_request' ? 'admin.clients.no_secret' : undefined);
  }
}

/** GET /admin/clients/:id/delete: the confirm step. */
export async function showRemove(s: Services, ctx: Context): Promise<void> {
  const id = pathClient(ctx);
  const admin = await adminForPage(s, ctx, `${clientPath(id)}/delete`);
  if (!admin) return;
  const client = await findClient(s, admin, id);
  await render(s, ctx, admin, 'admin-client-delete', 'admin.clients.delete_title', { clientId: id, fromConfig: client.source === 'config', href: clientPath(id) });
}

/** POST /admin/clients/:id/delete: the client goes with its grants and tokens. */
export async function submitRemove(s: Services, ctx: Context): Promise<void> {
  const admin = await adminForPost(s, ctx);
  const id = pathClient(ctx);
  const client = await findClient(s, admin, id);
  try {
    await removeClient(registry(s, admin), id);
  } catch (err) {
    return refuse(s, ctx, admin, client, formOf(client), err);
  }
  ctx.status = 303;
  ctx.redirect('/admin/clients?done=removed');
}
