// Which routers can answer a path, remembered per path (src/http/router-paths.ts): the hosted pages'
// paths share one memo entry whatever their interaction uid, but only while every route under
// /interaction/ takes the uid as a parameter.
import Router from '@koa/router';
import { describe, expect, it, vi } from 'vitest';
import { routablePaths } from '../../src/http/router-paths.js';

function routers() {
  const pages = new Router({ prefix: '/interaction/:uid' });
  pages.get('/', () => {});
  pages.post('/email', () => {});
  const links = new Router({ prefix: '/login/link' });
  links.get('/', () => {});
  return [pages, links];
}

describe('routablePaths', () => {
  it('matches the routers once for every interaction uid', () => {
    const all = routers();
    const matches = all.map((router) => vi.spyOn(router, 'match'));
    const routable = routablePaths(all);
    expect([routable('/interaction/aaaaaaaaaaaaaaaaaaaaa/email'), routable('/interaction/bbbbbbbbbbbbbbbbbbbbb/email')]).toEqual([
      [true, false],
      [true, false],
    ]);
    expect([routable('/interaction/ccc'), routable('/interaction/ccc/nothing'), routable('/login/link'), routable('/interaction/')]).toEqual([
      [true, false],
      [false, false],
      [false, true],
      [false, false],
    ]);
    // oidc-provider's resume path, one per sign-in: none of these routers has it.
    expect([routable('/authorize/ddd'), routable('/authorize/eee')]).toEqual([
      [false, false],
      [false, false],
    ]);
    // Two uids, one match per router: the second was remembered under the first's entry.
    expect(matches.map((match) => match.mock.calls.map(([path]) => path))).toEqual(
      Array(2).fill(['/interaction/uid/email', '/interaction/uid', '/interaction/uid/nothing', '/login/link', '/interaction/', '/authorize/uid']),
    );
  });

  it('remembers each path as it is once a route under /interaction/ is not the uid', () => {
    const literal = new Router();
    literal.get('/interaction/status', () => {});
    // Remembered under one key, the literal route would answer for every uid, or for none.
    const routable = routablePaths([...routers(), literal]);
    expect([routable('/interaction/status'), routable('/interaction/aaaaaaaaaaaaaaaaaaaaa')]).toEqual([
      [true, false, true],
      [true, false, false],
    ]);
  });
});
