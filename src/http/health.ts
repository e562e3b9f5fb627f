// Liveness and readiness. Readiness means the database answers, so a load balancer stops sending
// traffic to an instance that cannot serve it.
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
