// The schema-driven routes of the management API, in one list: management.ts mounts exactly these and
// management-openapi.ts documents exactly these, so the router and the document cannot disagree.
// A new area adds its routes here, and an entry per operation in test/api/management-conformance-walk.ts.
import type { Services } from '../services.js';
import type { ManagementRoute } from './management-routes.js';
import { LINK_ROUTES } from './management-links.js';
import { SERVICE_CLIENT_ROUTES } from './management-service-clients.js';
import { USER_PASSKEY_ROUTES } from './management-passkeys.js';
import { USER_MFA_ROUTES } from './management-mfa.js';
import { ACTION_ROUTES } from './management-actions.js';
import { USER_ROUTES } from './management-user-routes.js';
import { AUDIT_ROUTES } from './management-audit.js';
import { OUTBOX_ROUTES } from './management-outbox.js';
import { KEY_ROUTES } from './management-keys.js';
import { CLIENT_ROUTES } from './management-clients.js';

/** The routes for this configuration: service clients only while external connections run. */
export function managementRoutes(config: Pick<Services['config'], 'features'>): readonly ManagementRoute[] {
  return [
    ...LINK_ROUTES,
    ...(config.features.externalConnections.enabled ? SERVICE_CLIENT_ROUTES : []),
    ...USER_PASSKEY_ROUTES,
    ...USER_MFA_ROUTES,
    ...ACTION_ROUTES,
    ...USER_ROUTES,
    ...AUDIT_ROUTES,
    ...OUTBOX_ROUTES,
    ...KEY_ROUTES,
    ...CLIENT_ROUTES,
  ];
}
