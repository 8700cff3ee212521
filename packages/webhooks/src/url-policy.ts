import type { LookupAddress, LookupOptions } from 'node:dns';
import { Resolver, lookup as systemLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { RampartError } from '@rampart/errors';

/**
 * Addresses a webhook must not reach unless private networks are allowed: loopback,
 * RFC 1918, link-local (cloud metadata at 169.254.169.254), CGNAT, unique-local,
 * multicast, reserved and documentation ranges, and IPv4 embedded in IPv6.
 */
const privateRanges = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  privateRanges.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  privateRanges.addSubnet(network, prefix, 'ipv6');
}

/** `::ffff:127.0.0.1` or `::ffff:7f00:1` → `127.0.0.1`. */
function embeddedIpv4(address: string): string | undefined {
  const match = /^(?:0{0,4}:){0,5}:?ffff:(.+)$/i.exec(address);
  if (!match) return undefined;
  const rest = match[1]!;
  if (isIP(rest) === 4) return rest;
  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(rest);
  if (!hex) return undefined;
  const [high, low] = [Number.parseInt(hex[1]!, 16), Number.parseInt(hex[2]!, 16)];
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/**
 * Link-local (where clouds serve instance metadata and credentials), the cloud metadata
 * services that sit elsewhere (AWS's IPv6 one is unique-local, fd00:ec2::254) and
 * unspecified addresses: refused even to test-mode endpoints, which may otherwise use
 * private networks.
 */
const neverRanges = new BlockList();
neverRanges.addSubnet('0.0.0.0', 8, 'ipv4');
neverRanges.addSubnet('169.254.0.0', 16, 'ipv4');
neverRanges.addSubnet('::', 128, 'ipv6');
neverRanges.addSubnet('fe80::', 10, 'ipv6');
neverRanges.addAddress('fd00:ec2::254', 'ipv6');

/**
 * Where an endpoint may connect: `public` addresses only (live mode); also `private`
 * networks and loopback (test mode), but never link-local; or `any` (the allow flag).
 */
export type NetworkPolicy = 'public' | 'private' | 'any';

export function networkPolicy(allowPrivate: boolean, allowAnyByConfig: boolean): NetworkPolicy {
  return allowAnyByConfig ? 'any' : allowPrivate ? 'private' : 'public';
}

export function addressAllowed(address: string, policy: NetworkPolicy): boolean {
  if (policy === 'any' || isIP(address) === 0) return true;
  if (policy === 'public') return !isPrivateAddress(address);
  const v4 = isIP(address) === 6 ? embeddedIpv4(address) : undefined;
  return v4 ? !neverRanges.check(v4, 'ipv4') : !neverRanges.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6');
}

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    // IPv4-mapped IPv6 reaches the IPv4 host: judge that one.
    const v4 = embeddedIpv4(address);
    if (v4) return privateRanges.check(v4, 'ipv4');
  }
  return privateRanges.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** `[::1]` → `::1`; URL keeps the brackets of IPv6 literals. */
export function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

const RESOLVE_TIMEOUT_MS = 3_000;

type Resolve = (host: string) => Promise<string[]>;

const defaultResolve: Resolve = async (host) => (await defaultHostResolver.lookup(host)).map((a) => a.address);

function refuse(url: string, expected: string): never {
  throw new RampartError('invalid_value', { field: 'url', provided: url, expected });
}

/**
 * Checks an endpoint URL when it is registered or changed. A host that is, or resolves to,
 * an address the policy does not allow is refused. A host that does not resolve now is
 * accepted: delivery checks the address again on every connection (DNS can change).
 */
export async function checkEndpointUrl(
  raw: string,
  options: { policy: NetworkPolicy; resolve?: Resolve },
): Promise<string> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse(raw, 'an absolute http:// or https:// URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') refuse(raw, 'an http:// or https:// URL');
  if (url.username || url.password) refuse(raw, 'a URL without user name or password');
  // What is stored is the URL as written out (percent-encoded), which may be longer.
  if (raw.length > 2_048 || url.toString().length > 2_048) refuse(raw, 'a URL of at most 2048 characters');
  if (options.policy === 'any') return url.toString();

  const host = hostOf(url);
  const expected =
    options.policy === 'public'
      ? 'a URL on a public address (private and loopback ones only for test keys on a development server)'
      : 'a URL not on a link-local address';
  if (isIP(host)) {
    if (!addressAllowed(host, options.policy)) refuse(raw, expected);
    return url.toString();
  }
  if (options.policy === 'public' && (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local')))
    refuse(raw, expected);
  const resolve = options.resolve ?? defaultResolve;
  let addresses: string[] = [];
  try {
    addresses = await Promise.race([
      resolve(host),
      new Promise<string[]>((_, reject) => setTimeout(reject, RESOLVE_TIMEOUT_MS, new Error('timeout')).unref()),
    ]);
  } catch {
    // Unresolvable today; the connection-time check still applies.
  }
  if (addresses.some((address) => !addressAllowed(address, options.policy))) refuse(raw, expected);
  return url.toString();
}

/** A connection was refused by the SSRF guard; recorded as the attempt's error. */
export class PrivateAddressRefused extends Error {
  readonly code = 'EPRIVATEADDRESS';
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * `lookup` for outgoing connections under a policy: resolves, then refuses addresses the
 * policy does not allow, so a host re-pointed at 127.0.0.1 or 169.254.169.254 after
 * registration (DNS rebinding) is still not reached.
 */
export function guardedLookup(policy: NetworkPolicy, options: { resolver?: HostResolver } = {}) {
  const resolver = options.resolver ?? defaultHostResolver;
  return (hostname: string, lookupOptions: LookupOptions, callback: LookupCallback): void => {
    resolver.lookup(hostname).then(
      (addresses) => answer(hostname, lookupOptions, policy, callback, null, ofFamily(addresses, lookupOptions.family)),
      (error: NodeJS.ErrnoException) => answer(hostname, lookupOptions, policy, callback, error, []),
    );
  };
}

/** The addresses of the family a connection asked for (`net` passes 4 or 6 when told to). */
function ofFamily(addresses: LookupAddress[], family: LookupOptions['family']): LookupAddress[] {
  const wanted = family === 'IPv4' ? 4 : family === 'IPv6' ? 6 : family;
  return wanted === 4 || wanted === 6 ? addresses.filter((a) => a.family === wanted) : addresses;
}

function answer(
  hostname: string,
  options: LookupOptions,
  policy: NetworkPolicy,
  callback: LookupCallback,
  error: NodeJS.ErrnoException | null,
  addresses: LookupAddress[],
): void {
  if (error) {
    callback(error, []);
    return;
  }
  // The address is not named: the message reaches the operator's delivery log, and
  // what a name resolves to inside this network is not theirs to learn.
  if (addresses.some((a) => !addressAllowed(a.address, policy))) {
    callback(new PrivateAddressRefused(`${hostname} resolves to an address this endpoint may not reach`), []);
    return;
  }
  if (options.all) {
    callback(null, addresses);
    return;
  }
  const first = addresses[0];
  if (first) callback(null, first.address, first.family);
  else callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
}

/** Resolves the host names of operators' endpoints. */
export interface HostResolver {
  /** Every address of `host`; rejects with an error whose `code` says why (ETIMEOUT, ENOTFOUND, …). */
  lookup(host: string): Promise<LookupAddress[]>;
}

/**
 * c-ares's timeout for a name server's answer, which it backs off on later tries: a name whose
 * server never answers fails with ETIMEOUT after some seconds, within a delivery's timeout.
 */
const DNS_TIMEOUT_MS = 1_500;
/** Tries per name server, so that one lost UDP packet does not fail a lookup. */
const DNS_TRIES = 2;

/**
 * Resolves with c-ares (`dns.Resolver`) rather than `dns.lookup`: its queries are
 * asynchronous on the event loop and hold no thread of libuv's small pool, so an endpoint
 * whose name server never answers slows lookups of that name only. A and AAAA are asked
 * at once, and concurrent lookups of one name share its queries.
 *
 * c-ares reads neither /etc/hosts nor the search domains, so when DNS answers that the name
 * does not exist (or has no usable server) the lookup is handed to the system's getaddrinfo,
 * which knows `localhost` and short container names. A name whose server does not answer is
 * not handed over: getaddrinfo would wait for the same server again, on the thread pool.
 *
 * `servers` default to the system's (resolv.conf); tests point them at a fake name server.
 */
export function hostResolver(options: { servers?: string[]; timeoutMs?: number; tries?: number } = {}): HostResolver {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? DNS_TIMEOUT_MS, tries: options.tries ?? DNS_TRIES });
  if (options.servers) resolver.setServers(options.servers);
  return { lookup: singleFlight((host) => resolveHost(resolver, host)) };
}

const defaultHostResolver = hostResolver();

/**
 * DNS failures that are answers (the name or the record does not exist, the server refused
 * or could not serve it, no server is listening, the name is malformed): getaddrinfo may
 * still know the name from /etc/hosts, nsswitch or a search domain. Anything else, a
 * timeout first of all, fails the lookup. A recursive resolver may also answer ESERVFAIL when
 * the name's own server does not answer it: getaddrinfo then asks again, but behind the cap
 * below and, the lookup being shared, once per name at a time.
 */
const ANSWERED = new Set([
  'ENOTFOUND',
  'ENODATA',
  'ESERVFAIL',
  'EREFUSED',
  'ENOTIMP',
  'EFORMERR',
  'ECONNREFUSED',
  'EBADNAME',
  'EBADQUERY',
]);

async function resolveHost(resolver: Resolver, host: string): Promise<LookupAddress[]> {
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
  const addresses = [...addressesOf(v4, 4), ...addressesOf(v6, 6)];
  if (addresses.length > 0) return addresses;
  const failures = [v4, v6].flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
  const unanswered = failures.find((error: NodeJS.ErrnoException) => !ANSWERED.has(error.code ?? ''));
  if (unanswered) throw unanswered;
  return fallbackLookup(host);
}

function addressesOf(result: PromiseSettledResult<string[]>, family: 4 | 6): LookupAddress[] {
  return result.status === 'fulfilled' ? result.value.map((address) => ({ address, family })) : [];
}

/** One lookup in flight per name: callers asking for a name already being resolved share its answer. */
function singleFlight<T>(work: (key: string) => Promise<T>): (key: string) => Promise<T> {
  const inFlight = new Map<string, Promise<T>>();
  return (key) => {
    let pending = inFlight.get(key);
    if (!pending) {
      pending = work(key).finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    return pending;
  };
}

/** getaddrinfo, for the names DNS says it does not know; behind the `lookups` cap. */
function fallbackLookup(host: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    const queued = Date.now();
    lookups.run((done) => {
      // Waited so long for a thread that its caller has given up (a connection's timeout):
      // not started, so that a burst of such names never leaves work behind for the others.
      if (Date.now() - queued > FALLBACK_QUEUE_MS) {
        done();
        reject(Object.assign(new Error(`lookup of ${host} waited too long for a thread`), { code: 'ETIMEOUT' }));
        return;
      }
      systemLookup(host, { all: true }).then(resolve, reject).finally(done);
    });
  });
}

/** How long a fallback lookup may wait for one of the `MAX_CONCURRENT_LOOKUPS` threads. */
const FALLBACK_QUEUE_MS = 5_000;

/**
 * `dns.lookup` (getaddrinfo) runs on libuv's small thread pool, and a name server that never
 * answers holds a thread for the resolver's whole timeout. Only names DNS already answered
 * for get there (see `hostResolver`), but getaddrinfo may try search domains with servers of
 * their own; at most this many run at once, so they never take every thread from the rest of
 * the process (database and provider connections, file access).
 */
const MAX_CONCURRENT_LOOKUPS = 2;

const lookups = (() => {
  let running = 0;
  const waiting: ((done: () => void) => void)[] = [];
  // A lookup that ends hands its slot to the next one waiting, which starts on a fresh
  // stack: one skipped at once (see `fallbackLookup`) would otherwise start the next
  // inside it, as deep as the queue is long.
  const next = () => {
    const work = waiting.shift();
    if (work) queueMicrotask(() => work(next));
    else running--;
  };
  return {
    run(work: (done: () => void) => void) {
      if (running < MAX_CONCURRENT_LOOKUPS) {
        running++;
        work(next);
      } else waiting.push(work);
    },
  };
})();
