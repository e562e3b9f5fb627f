// Which of the app's routers have a route for a request path, so a request is matched against the
// routers that can answer it instead of every one (matching a path against all their routes was a
// measurable share of a passwordless start). Remembered per path, at most MAX_PATHS at a time.
import type Router from '@koa/router';

const MAX_PATHS = 1000;

/** `routable(path)[i]`: router i has a route for `path` (under any method). */
export function routablePaths(routers: readonly Router[]): (path: string) => readonly boolean[] {
  const memo = new Map<string, boolean[]>();
  return (path) => {
    let routable = memo.get(path);
    if (!routable) {
      // Paths with ids (interactions, users) would otherwise grow the memo without end.
      if (memo.size >= MAX_PATHS) memo.clear();
      routable = routers.map((router) => router.match(path, 'GET').path.length > 0);
      memo.set(path, routable);
    }
    return routable;
  };
}
