// Which of the app's routers have a route for a request path, so a request is matched against the
// routers that can answer it instead of every one (matching a path against all their routes was a
// measurable share of a passwordless start). Remembered per path, at most MAX_PATHS at a time.
import type Router from '@koa/router';

const MAX_PATHS = 1000;

// The hosted pages' routes take the interaction's uid as their first segment (`/interaction/:uid`, a
// parameter: matching does not read its value), and oidc-provider resumes a sign-in at
// `/authorize/<uid>` (none of our routes): each sign-in has a uid of its own, so one memo entry per
// uid would miss on every page of every sign-in. While every route under such a prefix takes the
// uid as a parameter (or there is none), its paths are remembered with the uid replaced (one
// non-empty segment still, matched alike).
const UID_PREFIXES = ['/interaction/', '/authorize/'].map((prefix) => ({ prefix, uid: new RegExp(`^${prefix}[^/]+`), route: new RegExp(`^${prefix}:uid(/|$)`) }));
const uidPath = (path: string) => {
  const under = UID_PREFIXES.find(({ prefix }) => path.startsWith(prefix));
  return under ? path.replace(under.uid, `${under.prefix}uid`) : path;
};
const uidFirst = (routers: readonly Router[]) =>
  routers.every((router) => router.stack.every(({ path }) => typeof path === 'string' && UID_PREFIXES.every(({ prefix, route }) => !path.startsWith(prefix) || route.test(path))));

/** `routable(path)[i]`: router i has a route for `path` (under any method). */
export function routablePaths(routers: readonly Router[]): (path: string) => readonly boolean[] {
  const memo = new Map<string, boolean[]>();
  const keyOf = uidFirst(routers) ? uidPath : (path: string) => path;
  return (requested) => {
    const path = keyOf(requested);
    let routable = memo.get(path);
    if (!routable) {
      // Paths with other ids (users, links) would otherwise grow the memo without end.
      if (memo.size >= MAX_PATHS) memo.clear();
      routable = routers.map((router) => router.match(path, 'GET').path.length > 0);
      memo.set(path, routable);
    }
    return routable;
  };
}
