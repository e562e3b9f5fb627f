// The network a requester's address belongs to, for limits keyed by source: one customer usually
// holds a whole IPv4 /24 (or sits behind one) and an IPv6 /64 (one subscriber's LAN), so rotating
// addresses inside it must not make a new source. Unparseable input is its own network rather than an error.
import { isIPv4, isIPv6 } from 'node:net';

/** The requester network of `ip`: `a.b.c.0/24` for IPv4 (also IPv4-mapped IPv6), `w:x:y:z::/64` for IPv6. */
export function requesterNetwork(ip: string): string {
  const address = ip.replace(/%.*$/, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address)?.[1];
  const v4 = mapped ?? address;
  if (isIPv4(v4)) return `${v4.split('.').slice(0, 3).join('.')}.0/24`;
  if (isIPv6(address)) return `${ipv6Groups(address).slice(0, 4).join(':')}::/64`;
  return address;
}

/** The eight groups of an IPv6 address, without leading zeros ("::" expanded). */
function ipv6Groups(address: string): string[] {
  const [head = '', tail] = address.split('::');
  const groups = (part: string) => (part ? part.split(':') : []);
  // A dotted IPv4 tail stands for two groups; only the first four groups are used, so its value does not matter.
  const left = groups(head);
  const right = groups(tail ?? '').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g]));
  const fill = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((g) => g.replace(/^0+(?=.)/, ''));
}
