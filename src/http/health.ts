// Liveness and readiness. Readiness means the database answers, so a load balancer stops sending
// traffic to an instance that cannot serve it. While the instance starts (migrations, keys) the
// socket is already open, so every request is answered by `answerWhileStarting` instead of waiting.
import type { IncomingMessage, ServerResponse } from 'node:http';
import Router from '@koa/router';
import type { Db } from '../storage/db.js';
import { ping } from '../storage/db.js';

export function healthRouter(db: Db): Router {
  const router = new Router();
  router.get('/healthz', function live(ctx) {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async function ready(ctx) {
    const database = await ping(db);
    ctx.status = database ? 200 : 503;
    ctx.body = { status: database ? 'ok' : 'unavailable', database: database ? 'ok' : 'unreachable' };
  });
  return router;
}

/** Seconds a client is asked to wait: starting takes seconds, a long migration a little longer. */
const STARTING_RETRY_AFTER = '2';

/**
 * The plain Node handler in place until the app exists. /healthz says the process is alive (200), so
 * an orchestrator does not kill an instance in the middle of a long migration; /readyz and every
 * other request get 503 temporarily_unavailable with Retry-After, as when the database is down.
 */
export function answerWhileStarting(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  const [status, body] =
    path === '/healthz' ? [200, { status: 'starting' }] : [503, { error: 'temporarily_unavailable', error_description: 'Sesame is starting; try again in a few seconds.' }];
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...(status === 503 && { 'Retry-After': STARTING_RETRY_AFTER }),
  });
  res.end(JSON.stringify(body));
}
