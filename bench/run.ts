/**
 * `npm run bench`: every figure beside a baseline measured in the same run, as a
 * ratio, because the machine is shared and noisy and only ratios travel.
 *
 *   npm run bench                 embedded PostgreSQL in a temporary directory
 *   DATABASE_URL=… npm run bench  another PostgreSQL (a scratch database is used)
 *   BENCH_DURATION=5              seconds per HTTP measurement (default 10)
 *
 * Servers and load generator run as separate processes on 127.0.0.1.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '@rampart/server';
import pg from 'pg';
import { benchPayments } from './payments.ts';
import { benchWebhooks } from './webhooks.ts';

const duration = Number(process.env['BENCH_DURATION'] ?? 10);
const here = new URL('.', import.meta.url).pathname;
const children: ChildProcess[] = [];

export interface Figure {
  name: string;
  rps: number;
  p99: number;
  baseline: string;
  baselineRps: number;
  target?: string;
  /** Milliseconds of CPU per request, by process, where measured. */
  cpuPerRequest?: Record<string, number>;
}

/** CPU time of a process so far, milliseconds (Linux /proc; NaN elsewhere). */
function processCpuMs(pid: number): number {
  try {
    // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (100 Hz).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/** CPU time so far of every PostgreSQL process on the machine, milliseconds, by process id. */
function postgresCpuMs(): Map<number, number> {
  const cpu = new Map<number, number>();
  for (const entry of readdirSync('/proc', { withFileTypes: true })) {
    if (!entry.isDirectory() || !/^\d+$/.test(entry.name)) continue;
    try {
      if (readFileSync(`/proc/${entry.name}/comm`, 'utf8').startsWith('postgres'))
        cpu.set(Number(entry.name), processCpuMs(Number(entry.name)) || 0);
    } catch {
      // The process ended meanwhile.
    }
  }
  return cpu;
}

/**
 * What PostgreSQL spent between two readings: by process, so that a process that ended
 * meanwhile (a connection of the server measured before) takes nothing off the total.
 */
function postgresCpuSince(before: Map<number, number>): number {
  let spent = 0;
  for (const [pid, ms] of postgresCpuMs()) spent += ms - (before.get(pid) ?? 0);
  return spent;
}

/**
 * Runs `measure` and reports the CPU each process spent on it per request: where the
 * time of a request goes, and so the most this machine could do at that cost.
 */
export async function withCpu<T extends { rps: number; total: number; cpuMs: number }>(
  pids: Record<string, number>,
  measure: () => Promise<T>,
): Promise<T & { cpuPerRequest: Record<string, number> }> {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuMs(pid)]));
  const pgBefore = postgresCpuMs();
  const result = await measure();
  const cpuPerRequest: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids))
    cpuPerRequest[name] = (processCpuMs(pid) - before[name]!) / result.total;
  cpuPerRequest['PostgreSQL'] = postgresCpuSince(pgBefore) / result.total;
  cpuPerRequest['load generator'] = result.cpuMs / result.total;
  return { ...result, cpuPerRequest };
}

/** Runs a child node process and resolves with its first stdout line parsed as JSON, or every line. */
export function child(
  args: string[],
  env: Record<string, string> = {},
  waitFor?: RegExp,
): Promise<{ proc: ChildProcess; output: () => string }> {
  const proc = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  let output = '';
  return new Promise((resolve, reject) => {
    proc.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (!waitFor || waitFor.test(output)) resolve({ proc, output: () => output });
    });
    proc.on('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}:\n${output}`)));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function load(
  spec: Record<string, unknown>,
): Promise<{ rps: number; p50: number; p99: number; errors: number; non2xx: number; total: number; cpuMs: number }> {
  const { proc, output } = await child([join(here, 'load.ts'), JSON.stringify({ duration, ...spec })], {}, /\n/);
  await new Promise((r) => proc.once('exit', r));
  const result = JSON.parse(output().trim().split('\n').at(-1)!);
  if (result.errors > 0 || result.non2xx > 0)
    console.warn(`  warning: ${result.errors} errors, ${result.non2xx} non-2xx for ${spec['url']}`);
  return result;
}

export async function pgBaseline(url: string, connections: number): Promise<{ rps: number; p99: number }> {
  const { proc, output } = await child(
    [join(here, 'pg-roundtrip.ts'), JSON.stringify({ url, connections, duration })],
    {},
    /\n/,
  );
  await new Promise((r) => proc.once('exit', r));
  return JSON.parse(output().trim());
}

async function main(): Promise<void> {
  const external = process.env['DATABASE_URL'];
  const tempDir = external ? undefined : mkdtempSync(join(tmpdir(), 'rampart-bench-'));
  const cluster = tempDir ? await startEmbeddedPostgres({ dataDir: tempDir }) : undefined;
  const base = external ?? cluster!.url;
  const database = `rampart_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const url = new URL(base);
  url.pathname = `/${database}`;
  const databaseUrl = url.toString();

  const figures: Figure[] = [];
  try {
    const hello = await child([join(here, 'hello.ts')], {}, /\n/);
    const helloUrl = `http://127.0.0.1:${JSON.parse(hello.output()).port}/`;
    // The sandbox providers run as their own service, as they would in a deployment:
    // the API process measured is Rampart alone.
    const [apiPort, simulatorPort] = [await freePort(), await freePort()];
    const hooks = Object.fromEntries(
      Object.entries({ BANK: 'simbank', CARDS: 'simcard', CRYPTO: 'simcrypto', KYC: 'simkyc' }).map(
        ([provider, id]) => [
          `SIMULATOR_WEBHOOK_URL_${provider}`,
          `http://127.0.0.1:${apiPort}/v1/provider-webhooks/${id}`,
        ],
      ),
    );
    const simulator = await child(
      [join(here, '..', 'packages/simulator/src/main.ts')],
      { PORT: String(simulatorPort), ...hooks },
      /Simulator/,
    );
    const rampart = await child(
      [join(here, '..', 'packages/server/src/main.ts')],
      {
        DATABASE_URL: databaseUrl,
        RAMPART_DEMO_OPERATOR: 'true',
        PORT: String(apiPort),
        RAMPART_SIMULATOR: 'true',
        RAMPART_SIMULATOR_URL: `http://127.0.0.1:${simulatorPort}`,
        LOG_LEVEL: 'warn',
        RAMPART_RATE_LIMIT_PER_MINUTE: '0',
        RAMPART_DATA_DIR: join(tmpdir(), `rampart-bench-data-${process.pid}`),
      },
      /Secret key\s+rk_test_\w+/,
    );
    const apiUrl = /Rampart API\s+(\S+)/.exec(rampart.output())![1]!;
    const secret = /Secret key\s+(rk_test_\w+)/.exec(rampart.output())![1]!;
    const auth = { authorization: `Bearer ${secret}` };

    console.log(`measuring ${duration}s per figure…`);
    const helloRun = await load({ url: helloUrl });
    const pgRun = await pgBaseline(databaseUrl, 16);
    const operator = await load({ url: `${apiUrl}/v1/operator`, headers: auth });
    figures.push({
      name: 'GET /v1/operator (authenticated)',
      rps: operator.rps,
      p99: operator.p99,
      baseline: 'fastify hello-world',
      baselineRps: helloRun.rps,
    });
    figures.push({
      name: 'raw PostgreSQL SELECT 1 (baseline)',
      rps: pgRun.rps,
      p99: pgRun.p99,
      baseline: '-',
      baselineRps: pgRun.rps,
    });
    const pids = { Rampart: rampart.proc.pid!, simulator: simulator.proc.pid! };
    figures.push(...(await benchPayments({ apiUrl, auth, helloUrl, pgRps: pgRun.rps, databaseUrl, pids })));
    rampart.proc.kill('SIGTERM');
    hello.proc.kill('SIGTERM');

    const webhooks = await benchWebhooks({ databaseUrl: base });
    figures.push({
      name: `webhook deliveries (${webhooks.events} events)`,
      rps: webhooks.rampartPerSecond,
      p99: Number.NaN,
      baseline: 'raw HTTP POSTs, same receiver',
      baselineRps: webhooks.baselinePerSecond,
      target: `>= ${webhooks.target}/s`,
    });
  } finally {
    for (const proc of children) if (proc.exitCode === null) proc.kill('SIGKILL');
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => {});
    await admin.end();
    await cluster?.stop();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  }

  console.log('');
  console.log('| benchmark | req/s | p99 ms | baseline | baseline req/s | ratio | target |');
  console.log('|---|---:|---:|---|---:|---:|---|');
  for (const f of figures) {
    const ratio = f.baselineRps > 0 ? (f.rps / f.baselineRps).toFixed(2) : '-';
    console.log(
      `| ${f.name} | ${f.rps.toFixed(0)} | ${Number.isNaN(f.p99) ? '-' : f.p99.toFixed(1)} | ${f.baseline} | ${f.baselineRps > 0 ? f.baselineRps.toFixed(0) : '-'} | ${ratio} | ${f.target ?? ''} |`,
    );
  }
  for (const f of figures) {
    if (!f.cpuPerRequest) continue;
    const shares = Object.entries(f.cpuPerRequest);
    const total = shares.reduce((sum, [, ms]) => sum + ms, 0);
    console.log('');
    console.log(`CPU per request, ${f.name}: ${total.toFixed(2)} ms in all`);
    for (const [name, ms] of shares) console.log(`  ${name.padEnd(16)} ${ms.toFixed(2)} ms`);
    const cores = availableParallelism();
    console.log(`  at this cost ${cores} cores do at most ${((cores * 1000) / total).toFixed(0)}/s`);
    // The server and its database alone: what the cores would do if the processor and
    // the clients ran elsewhere, as they do in production.
    const own = total - (f.cpuPerRequest['simulator'] ?? 0) - (f.cpuPerRequest['load generator'] ?? 0);
    console.log(
      `  server and database alone: ${own.toFixed(2)} ms, so ${cores} cores for them would do at most ${((cores * 1000) / own).toFixed(0)}/s`,
    );
  }
}

if (import.meta.main) await main();
