import { BlockList, isIP } from 'node:net';
import { RampartError } from '@rampart/errors';
import ipaddr from 'ipaddr.js';

/** `::ffff:1.2.3.4` is how an IPv4 client looks on a dual-stack socket. */
export function normaliseIp(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return mapped ? mapped[1]! : ip;
}

/**
 * Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address; returns null when malformed,
 * when a block's address is not its network's (`10.0.0.1/8`: which was meant, the host or
 * the block?), or for an IPv6 zone (`fe80::1%eth0`: a link of one machine, no address of
 * a caller). What it takes, PostgreSQL's `cidr` takes too.
 */
export function parseCidr(value: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const [address = '', prefixText, ...rest] = value.trim().split('/');
  if (rest.length > 0 || address.includes('%')) return null;
  const version = isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > max ||
    (prefixText !== undefined && !/^\d+$/.test(prefixText))
  )
    return null;
  const family = version === 4 ? ipaddr.IPv4 : ipaddr.IPv6;
  if (family.networkAddressFromCIDR(`${address}/${prefix}`).toString() !== family.parse(address).toString())
    return null;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

export class IpAllowlist {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(cidrs: readonly string[]) {
    this.empty = cidrs.length === 0;
    for (const cidr of cidrs) {
      const parsed = parseCidr(cidr);
      if (!parsed) throw new RampartError('invalid_value', { field: 'ip_allowlist', provided: cidr, expected: 'CIDR' });
      this.list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
  }

  allows(ip: string): boolean {
    if (this.empty) return true;
    const address = normaliseIp(ip);
    const version = isIP(address);
    if (version === 0) return false;
    return this.list.check(address, version === 4 ? 'ipv4' : 'ipv6');
  }
}

/** Origins are compared as the browser sends them: scheme, host and port, no path. */
export function normaliseOrigin(value: string): string | null {
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
    if (url.pathname !== '/' || url.search || url.hash || url.username) return null;
    return url.origin;
  } catch {
    return null;
  }
}
