import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { after, before, describe, test } from 'node:test';
import { decode, encode, RECURSION_AVAILABLE, RECURSION_DESIRED } from 'dns-packet';
import {
  guardedLookup,
  type HostResolver,
  hostResolver,
  type NetworkPolicy,
  PrivateAddressRefused,
} from '../src/url-policy.ts';

/** What the fake name server does with a name: answer these records, never answer, or say it does not exist. */
type Behaviour = { a?: string[]; aaaa?: string[] } | 'hang' | 'nxdomain';

const NXDOMAIN = 3;

/**
 * A name server on a random UDP port of 127.0.0.1, answering from `zone`. `queries` lists
 * every question it was asked, as `A name` or `AAAA name`.
 */
async function fakeNameServer(zone: (name: string) => Behaviour) {
  const socket = createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (message, peer) => {
    const query = decode(message);
    const question = query.questions?.[0];
    if (!question) return;
    const name = question.name.toLowerCase();
    queries.push(`${question.type} ${name}`);
    const behaviour = zone(name);
    if (behaviour === 'hang') return;
    const data = behaviour === 'nxdomain' ? [] : ((question.type === 'A' ? behaviour.a : behaviour.aaaa) ?? []);
    const response = encode({
      id: query.id ?? 0,
      type: 'response',
      flags: RECURSION_DESIRED | RECURSION_AVAILABLE | (behaviour === 'nxdomain' ? NXDOMAIN : 0),
      questions: [question],
      answers: data.map((address) => ({
        type: question.type as 'A' | 'AAAA',
        name: question.name,
        ttl: 60,
        data: address,
      })),
    });
    socket.send(response, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    server: `127.0.0.1:${socket.address().port}`,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(resolve)),
  };
}

/** `guardedLookup` as a promise: the addresses (`all`), or `[address, family]`. */
function lookUp(
  resolver: HostResolver,
  host: string,
  policy: NetworkPolicy = 'any',
  options: LookupOptions = { all: true },
): Promise<LookupAddress[] | [string, number | undefined]> {
  return new Promise((resolve, reject) =>
    guardedLookup(policy, { resolver })(host, options, (error, address, family) => {
      if (error) reject(error);
      else resolve(typeof address === 'string' ? [address, family] : address);
    }),
  );
}

const PUBLIC_V4 = '93.184.216.34';
const PUBLIC_V6 = '2606:4700:4700::1111';

const zone = (name: string): Behaviour => {
  if (name.startsWith('hung-')) return 'hang';
  const records: Record<string, Behaviour> = {
    'ok.example.test': { a: [PUBLIC_V4] },
    'dual.example.test': { a: [PUBLIC_V4], aaaa: [PUBLIC_V6] },
    'shared.example.test': { a: [PUBLIC_V4] },
    'internal.example.test': { a: ['10.0.0.5'] },
    'loopback.example.test': { a: ['127.0.0.1'] },
    'metadata.example.test': { a: ['169.254.169.254'] },
    'mixed.example.test': { a: [PUBLIC_V4], aaaa: ['::1'] },
  };
  return records[name] ?? 'nxdomain';
};

const code = (error: unknown) => (error as NodeJS.ErrnoException).code;

describe('endpoint host names resolved with c-ares', () => {
  let dns: Awaited<ReturnType<typeof fakeNameServer>>;
  before(async () => {
    dns = await fakeNameServer(zone);
  });
  after(() => dns.close());

  test("names whose name server never answers do not hold up other names' lookups", async () => {
    // More hung names than the old cap of 2 lookups and than libuv's 4 threads.
    const resolver = hostResolver({ servers: [dns.server], timeoutMs: 2_000, tries: 1 });
    const settled: string[] = [];
    const hung = Array.from({ length: 8 }, (_, i) =>
      lookUp(resolver, `hung-${i}.example.test`, 'public').then(
        () => assert.fail('a hung name resolved'),
        (error: unknown) => {
          settled.push(`hung-${i}`);
          return error;
        },
      ),
    );
    const answer = await lookUp(resolver, 'ok.example.test', 'public');
    assert.deepEqual(settled, [], 'the answered name waited for hung ones');
    assert.deepEqual(answer, [{ address: PUBLIC_V4, family: 4 }]);
    for (const error of await Promise.all(hung)) assert.equal(code(error), 'ETIMEOUT');
  });

  test('a name whose server never answers fails with the timeout, not handed to getaddrinfo', async () => {
    // Every name hangs, `localhost` too: had the lookup fallen back, /etc/hosts would answer it.
    const silent = await fakeNameServer(() => 'hang');
    try {
      const resolver = hostResolver({ servers: [silent.server], timeoutMs: 500, tries: 1 });
      await assert.rejects(lookUp(resolver, 'localhost'), (error) => code(error) === 'ETIMEOUT');
      assert.deepEqual(silent.queries.toSorted(), ['A localhost', 'AAAA localhost']);
    } finally {
      await silent.close();
    }
  });

  test('a name DNS does not know is handed to getaddrinfo, which knows localhost', async () => {
    const resolver = hostResolver({ servers: [dns.server] });
    const addresses = (await lookUp(resolver, 'localhost', 'private')) as LookupAddress[];
    assert.ok(addresses.length > 0);
    for (const { address } of addresses) assert.match(address, /^(127\.|::1$)/);
    assert.ok(dns.queries.includes('A localhost'), 'c-ares asked the name server first');
  });

  test('addresses the policy does not allow are refused without being named, on every path', async () => {
    const resolver = hostResolver({ servers: [dns.server] });
    const refusals: [string, NetworkPolicy][] = [
      ['internal.example.test', 'public'],
      ['loopback.example.test', 'public'],
      ['metadata.example.test', 'public'],
      ['mixed.example.test', 'public'],
      ['metadata.example.test', 'private'],
      // Through the getaddrinfo fallback.
      ['localhost', 'public'],
    ];
    for (const [host, policy] of refusals)
      await assert.rejects(
        lookUp(resolver, host, policy),
        (error) =>
          error instanceof PrivateAddressRefused &&
          error.code === 'EPRIVATEADDRESS' &&
          !/10\.0\.0\.5|127\.0\.0\.1|169\.254|::1/.test(error.message),
        `${host} under ${policy}`,
      );
    assert.deepEqual(await lookUp(resolver, 'loopback.example.test', 'private'), [{ address: '127.0.0.1', family: 4 }]);
  });

  test('answers in the shape dns.lookup gives: all addresses, or the first, of the family asked for', async () => {
    const resolver = hostResolver({ servers: [dns.server] });
    assert.deepEqual(await lookUp(resolver, 'dual.example.test', 'public'), [
      { address: PUBLIC_V4, family: 4 },
      { address: PUBLIC_V6, family: 6 },
    ]);
    assert.deepEqual(await lookUp(resolver, 'dual.example.test', 'public', { all: false }), [PUBLIC_V4, 4]);
    assert.deepEqual(await lookUp(resolver, 'dual.example.test', 'public', { family: 6 }), [PUBLIC_V6, 6]);
    assert.deepEqual(await lookUp(resolver, 'dual.example.test', 'public', { all: true, family: 4 }), [
      { address: PUBLIC_V4, family: 4 },
    ]);
  });

  test('concurrent lookups of one name share one query to the name server', async () => {
    const resolver = hostResolver({ servers: [dns.server] });
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => lookUp(resolver, 'shared.example.test', 'public')),
    );
    for (const answer of answers) assert.deepEqual(answer, [{ address: PUBLIC_V4, family: 4 }]);
    const asked = dns.queries.filter((query) => query.endsWith(' shared.example.test'));
    assert.deepEqual(asked.toSorted(), ['A shared.example.test', 'AAAA shared.example.test']);
  });
});
