// The layer order of src/, top to bottom, in one place: a file may import files of its own layer
// or of a layer below it, never above (test/architecture/imports.test.ts checks every import, and
// ARCHITECTURE.md draws this list). Nothing imports this file; it is data for that test.

export interface Layer {
  name: string;
  /** Paths relative to the repository: a file, or a folder with everything under it (`dir/**`). */
  paths: readonly string[];
  /** What the layer holds, for whoever wonders where a new file goes. */
  holds: string;
}

export const LAYERS: readonly Layer[] = [
  {
    name: 'root',
    paths: ['src/app.ts', 'src/server.ts', 'src/cluster.ts', 'src/cli.ts', 'src/cli/**', 'src/connect.ts'],
    holds: 'composition: builds each part from the config and wires them (app.ts mounts the routers of enabled features), the CLI, the cluster, the sesame/connect library',
  },
  { name: 'api', paths: ['src/api/**'], holds: 'JSON surfaces: /passwordless/* (Auth0 style), Userfront, management API, CORS' },
  { name: 'interactions', paths: ['src/interactions/**'], holds: 'hosted pages bound to the oidc-provider Interaction, magic-link pages' },
  { name: 'connections', paths: ['src/connections/**'], holds: 'external identity hand-off: assertion check and its callback route' },
  {
    name: 'http',
    paths: ['src/http/**', 'src/services.ts'],
    holds: 'HTTP plumbing shared by the routers: middleware, errors, rendering, CSRF, cookies, proxies; services.ts is what handlers get',
  },
  { name: 'oidc', paths: ['src/oidc/**'], holds: 'oidc-provider configuration, client metadata, accounts, custom grants, the internals seam' },
  { name: 'passwordless', paths: ['src/passwordless/**'], holds: 'domain logic without Koa: codes, links, login tickets, identifiers, throttles' },
  {
    name: 'risk',
    paths: ['src/risk/**'],
    holds: 'limits: every limit by name (key, window, ceiling), check() turning one into a decision, replay checks, the code-send and SMS-pumping policies',
  },
  { name: 'delivery', paths: ['src/delivery/**'], holds: 'outbox worker and channels: SMTP, SMS, webhook, capture' },
  { name: 'storage', paths: ['src/storage/**'], holds: 'the only code that touches Prisma or SQL' },
  { name: 'config', paths: ['src/config/**'], holds: 'the config schema and its loader' },
  {
    name: 'base',
    paths: ['src/i18n/**', 'src/log.ts', 'src/paths.ts', 'src/errors.ts', 'src/layers.ts', 'src/metrics/**'],
    holds: 'leaves every layer may use: translations, logging, file locations, the error catalogue, the Prometheus metrics',
  },
];
