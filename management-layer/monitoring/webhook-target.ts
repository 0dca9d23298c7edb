/**
 * Where a webhook may point: not at the gateway's own network. A URL whose host is, or resolves to, a
 * loopback, private, link-local, shared (CGNAT), unspecified, multicast or reserved address is refused
 * unless its host name is on the configured allow-list (HGD_WEBHOOK_ALLOW_HOSTS, e.g. for tests or an
 * internal receiver). Checked at registration and again before every delivery (a name may resolve
 * elsewhere later); between that check and the connection a name could still be re-pointed (DNS
 * rebinding within the lookup's lifetime): a known limit, documented in docs/care.md.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/** Non-public ranges (IANA special-purpose registries, RFC 6890 and RFC 6598). */
const BLOCKED: ReadonlyArray<[string, number, 'ipv4' | 'ipv6']> = [
  ['0.0.0.0', 8, 'ipv4'], ['10.0.0.0', 8, 'ipv4'], ['100.64.0.0', 10, 'ipv4'], ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.0.0.0', 24, 'ipv4'], ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'], ['224.0.0.0', 4, 'ipv4'], ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'], ['::1', 128, 'ipv6'], ['fc00::', 7, 'ipv6'], ['fe80::', 10, 'ipv6'], ['ff00::', 8, 'ipv6'],
];

const blocked = new BlockList();
for (const [net, prefix, family] of BLOCKED) blocked.addSubnet(net, prefix, family);

/** Whether an IP address is outside the public internet (an IPv4-mapped IPv6 address as its IPv4). */
export function isInternalAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return blocked.check(mapped[1]!, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  return blocked.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export type Resolve = (host: string) => Promise<string[]>;

const resolveAll: Resolve = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Why a URL may not be a webhook target, or null when it may. `allowHosts`: host names (or literal
 * addresses) allowed whatever they resolve to, compared case-insensitively.
 */
export async function refusedTarget(url: URL, allowHosts: readonly string[], resolve: Resolve = resolveAll): Promise<string | null> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (allowHosts.some((h) => h.toLowerCase() === host)) return null;
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : await resolve(host);
  } catch {
    return `its host ${JSON.stringify(host)} does not resolve`;
  }
  const internal = addresses.find(isInternalAddress);
  if (addresses.length === 0) return `its host ${JSON.stringify(host)} does not resolve`;
  return internal === undefined ? null : `its host ${JSON.stringify(host)} is an internal address (${internal}): loopback, private and link-local targets are refused unless HGD_WEBHOOK_ALLOW_HOSTS names the host`;
}
