/**
 * The load process: drives one target with autocannon and prints one JSON line.
 * Runs apart from the servers so the load generator never competes with them inside
 * one event loop (it still shares the machine's cores, like any local benchmark).
 */
import autocannon from 'autocannon';

const spec = JSON.parse(process.argv[2] ?? '{}') as {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  connections?: number;
  duration?: number;
  /** Give each request its own Idempotency-Key (for create benchmarks). */
  uniqueIdempotencyKey?: boolean;
  /** Replace `__USER__` in the body with one of this many user ids, round robin. */
  users?: number;
};

let counter = 0;
const options = {
  url: spec.url,
  method: (spec.method ?? 'GET') as 'GET',
  headers: spec.headers ?? {},
  ...(spec.body !== undefined ? { body: spec.body } : {}),
  connections: spec.connections ?? 32,
  duration: spec.duration ?? 10,
  ...(spec.uniqueIdempotencyKey
    ? {
        requests: [
          {
            setupRequest: (request: Record<string, unknown>) => {
              const n = ++counter;
              return {
                ...request,
                headers: {
                  ...(request['headers'] as Record<string, string>),
                  'idempotency-key': `bench-${process.pid}-${n}`,
                },
                ...(spec.users && spec.body
                  ? { body: spec.body.replace('__USER__', `bench-user-${n % spec.users}`) }
                  : {}),
              };
            },
          },
        ],
      }
    : {}),
} as unknown as autocannon.Options;
const cpu = process.cpuUsage();
const result = await autocannon(options);
const used = process.cpuUsage(cpu);
console.log(
  JSON.stringify({
    /** The load generator's own CPU time for the run, milliseconds. */
    cpuMs: (used.user + used.system) / 1000,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    total: result.requests.total,
  }),
);
