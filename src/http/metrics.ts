// GET /metrics (Prometheus text format) for a scraper holding the bearer token of config `metrics`,
// the request timing behind sesame_http_request_duration_seconds, and the database reads the gauges
// take when scraped. Mounted by app.ts only while `metrics.enabled` (otherwise /metrics is a 404).
import cluster from 'node:cluster';
import { createHash, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { MetricsConfig } from '../config/metrics.js';
import { SesameError } from '../errors.js';
import { contentType, exposition, offerMetricsToPrimary } from '../metrics/cluster.js';
import { collectProcessMetrics, httpRequests, watchSource } from '../metrics/registry.js';
import type { Db } from '../storage/db.js';
import { outboxBacklog } from '../storage/outbox.js';
import { listSigningKeys } from '../storage/signing-keys.js';
import { noStore } from './middleware.js';

const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="metrics"' };
const digest = (text: string) => createHash('sha256').update(text).digest();

/** Accepts only `Authorization: Bearer <metrics.bearerToken>`, compared in constant time (as digests, so lengths never differ). */
function requireToken(token: string) {
  const expected = digest(token);
  return async function metricsBearer(ctx: Context, next: Next) {
    const [scheme, value, ...rest] = ctx.get('authorization').split(' ');
    if (scheme?.toLowerCase() !== 'bearer' || !value || rest.length) {
      throw new SesameError('invalidToken', { detail: 'A bearer token for the metrics is required.', headers: CHALLENGE });
    }
    if (!timingSafeEqual(digest(value), expected)) {
      throw new SesameError('invalidToken', {
        detail: 'The bearer token is not the metrics token.',
        headers: { 'WWW-Authenticate': 'Bearer realm="metrics", error="invalid_token"' },
      });
    }
    await next();
  };
}

export function metricsRouter(config: MetricsConfig): Router {
  const router = new Router();
  router.get('/metrics', noStore, requireToken(config.bearerToken!), async function scrape(ctx) {
    let text: string;
    try {
      text = await exposition();
    } catch (err) {
      // With --workers, a process of the group that cannot answer makes the scrape fail, never a partial sum (a counter would seem to reset).
      ctx.state.log.warn({ err }, 'metrics scrape failed');
      throw new SesameError('unavailable', { retryAfter: 5 });
    }
    ctx.type = contentType;
    ctx.body = text;
  });
  return router;
}

/**
 * Times every request into the histogram, labelled by the route pattern that matched (our routers'
 * and oidc-provider's both set `_matchedRoute`), never by the raw path: a client making up paths
 * would otherwise make a series per path. Static files share one label, everything else unmatched.
 */
export function measureRequests() {
  return async function timeRequest(ctx: Context, next: Next) {
    const started = performance.now();
    try {
      await next();
    } finally {
      const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
      const route = typeof matched === 'string' ? matched : ctx.path.startsWith('/assets/') ? '/assets/*' : 'unmatched';
      httpRequests.observe({ method: ctx.method, route, status: ctx.status }, (performance.now() - started) / 1000);
    }
  };
}

/**
 * Called by the server when metrics are on: process metrics, the gauges reading this instance's
 * database, and in a cluster worker the primary's access to them. Returns what stops the reads.
 */
export function startMetrics(db: Db): () => void {
  collectProcessMetrics();
  if (cluster.isWorker) offerMetricsToPrimary();
  return watchSource({ outbox: () => outboxBacklog(db), signingKeys: () => listSigningKeys(db), pool: () => db.poolStats?.() ?? null });
}
