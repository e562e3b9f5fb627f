// Tests talk to loopback only: a TCP connection or DNS lookup to anything else fails loudly here
// instead of reaching (or waiting on) the Internet. vitest loads this file first (setupFiles) and it
// puts itself in NODE_OPTIONS, so every Node child a test spawns loads it too. Plain JS: children
// run without a TypeScript loader.
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

const MARK = Symbol.for('sesame.test.networkBlocked');

/** Whether an IP literal is this host: 127.0.0.0/8, ::1, their IPv4-mapped form, or the unspecified address. */
export function isLoopbackAddress(address) {
  const ip = address.replace(/^\[|\]$/g, '').replace(/^::ffff:/i, '');
  if (net.isIPv4(ip)) return ip.startsWith('127.') || ip === '0.0.0.0';
  return ip === '::1' || ip === '::';
}

/** Names that resolve to loopback without asking a DNS server: localhost and /etc/hosts' loopback names. */
function loopbackNames() {
  const names = new Set(['localhost']);
  try {
    for (const line of readFileSync('/etc/hosts', 'utf8').split('\n')) {
      const [address, ...aliases] = line.replace(/#.*/, '').trim().split(/\s+/);
      if (address && isLoopbackAddress(address)) for (const name of aliases) names.add(name.toLowerCase());
    }
  } catch {
    // No /etc/hosts: localhost alone.
  }
  return names;
}

const LOOPBACK_NAMES = loopbackNames();

/** Whether a host (a name or an IP literal) is this machine. */
export function isLoopbackHost(host) {
  const name = String(host).toLowerCase().replace(/\.$/, '');
  if (net.isIP(name.replace(/^\[|\]$/g, ''))) return isLoopbackAddress(name);
  return LOOPBACK_NAMES.has(name) || name.endsWith('.localhost');
}

function refusal(what, host) {
  const error = new Error(`outbound network blocked in tests: ${what} ${host} (only loopback is allowed; see test/helpers/block-network.mjs)`);
  error.code = 'ETESTNETWORK';
  return error;
}

function blockConnect() {
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function connectLoopbackOnly(...args) {
    const first = Array.isArray(args[0]) ? args[0][0] : args[0];
    const options = first !== null && typeof first === 'object' ? first : { port: first, host: typeof args[1] === 'string' ? args[1] : undefined };
    // A Unix socket path, or a numeric port with no host (Node defaults it to localhost).
    if (options.path === undefined && !(typeof first === 'string' && !/^\d+$/.test(first))) {
      const host = options.host ?? 'localhost';
      // Failed like a refused connection (an 'error' event), so callers report it where they report those.
      if (!isLoopbackHost(host)) {
        const error = refusal('connection to', host);
        process.nextTick(() => this.destroy(error));
        return this;
      }
    }
    return connect.apply(this, args);
  };
}

function blockLookups() {
  const lookup = dns.lookup;
  dns.lookup = function lookupLoopbackOnly(hostname, options, callback) {
    if (!isLoopbackHost(hostname)) {
      const done = typeof options === 'function' ? options : callback;
      const error = refusal('DNS lookup of', hostname);
      process.nextTick(() => done(error));
      return {};
    }
    return lookup.call(this, hostname, options, callback);
  };
  const lookupPromise = dns.promises.lookup;
  dns.promises.lookup = function lookupLoopbackOnly(hostname, options) {
    if (!isLoopbackHost(hostname)) return Promise.reject(refusal('DNS lookup of', hostname));
    return lookupPromise.call(this, hostname, options);
  };
  // The resolver functions ask a DNS server directly; a loopback name is answered from /etc/hosts.
  for (const target of [dns, dns.promises, dns.Resolver.prototype, dns.promises.Resolver.prototype]) {
    for (const name of Object.getOwnPropertyNames(target)) {
      if (!/^resolve|^reverse$/.test(name) || typeof target[name] !== 'function') continue;
      const resolve = target[name];
      target[name] = function resolveLoopbackOnly(hostname, ...rest) {
        if (isLoopbackHost(hostname)) return resolve.call(this, hostname, ...rest);
        const error = refusal('DNS query for', hostname);
        const done = rest.at(-1);
        if (typeof done === 'function') return void process.nextTick(() => done(error));
        if (target === dns || target === dns.Resolver.prototype) throw error;
        return Promise.reject(error);
      };
    }
  }
}

/** Children (sesame serve, the CLI, README scripts) load this file before their own code. */
function inheritInChildren() {
  const flag = `--import=${import.meta.url}`;
  const current = process.env.NODE_OPTIONS ?? '';
  if (!current.includes(flag)) process.env.NODE_OPTIONS = `${current} ${flag}`.trim();
}

if (!globalThis[MARK]) {
  globalThis[MARK] = true;
  blockConnect();
  blockLookups();
  syncBuiltinESMExports();
  inheritInChildren();
}
