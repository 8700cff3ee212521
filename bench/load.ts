/**
 * The load process: drives one target and prints one JSON line. Runs apart from the
 * servers so the load generator never competes with them inside one event loop (it
 * still shares the machine's cores, like any local benchmark).
 *
 * Closed loop by default (autocannon: `connections` clients, each sending its next
 * request when the last is answered: as fast as the server goes). With `overallRate`,
 * open loop: one request every 1/rate seconds whatever the answers do, each latency
 * counted from when its request was due, so a stall is charged to every request it
 * delays. (autocannon's own rate limit sends each second's quota in a burst at the
 * start of the second, which measures the burst, not the rate.)
 */
import autocannon from 'autocannon';
import { Pool } from 'undici';

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
  /** Requests per second, paced evenly (open loop); as fast as they go when absent. */
  overallRate?: number;
};

let counter = 0;
/** The headers and body of the next request. */
function nextRequest(headers: Record<string, string>): { headers: Record<string, string>; body?: string } {
  if (!spec.uniqueIdempotencyKey) return { headers, ...(spec.body !== undefined ? { body: spec.body } : {}) };
  const n = ++counter;
  return {
    headers: { ...headers, 'idempotency-key': `bench-${process.pid}-${n}` },
    ...(spec.body !== undefined
      ? { body: spec.users ? spec.body.replace('__USER__', `bench-user-${n % spec.users}`) : spec.body }
      : {}),
  };
}

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  total: number;
}

async function closedLoop(): Promise<Result> {
  const result = await autocannon({
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
              setupRequest: (request: autocannon.Request) => ({
                ...request,
                ...nextRequest((request.headers ?? {}) as Record<string, string>),
              }),
            },
          ],
        }
      : {}),
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    total: result.requests.total,
  };
}

async function openLoop(rate: number): Promise<Result> {
  const url = new URL(spec.url);
  const pool = new Pool(url.origin, { connections: spec.connections ?? 32 });
  const latencies: number[] = [];
  let errors = 0;
  let non2xx = 0;
  const send = async (due: number) => {
    try {
      const response = await pool.request({
        path: url.pathname + url.search,
        method: (spec.method ?? 'GET') as 'GET',
        ...nextRequest(spec.headers ?? {}),
      });
      await response.body.dump();
      if (response.statusCode >= 300) non2xx++;
      latencies.push(performance.now() - due);
    } catch {
      errors++;
    }
  };
  const start = performance.now();
  const count = Math.round(rate * (spec.duration ?? 10));
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(send(due));
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return { rps: latencies.length / seconds, p50: at(0.5), p99: at(0.99), errors, non2xx, total: latencies.length };
}

const cpu = process.cpuUsage();
const result = spec.overallRate ? await openLoop(spec.overallRate) : await closedLoop();
const used = process.cpuUsage(cpu);
/** `cpuMs`: the load generator's own CPU time for the run, milliseconds. */
console.log(JSON.stringify({ cpuMs: (used.user + used.system) / 1000, ...result }));
