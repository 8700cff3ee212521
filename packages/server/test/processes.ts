/** Rampart and the simulator as real processes: for tests of starting, stopping and crashing. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { after } from 'node:test';

const SERVER_MAIN = new URL('../src/main.ts', import.meta.url).pathname;
const SIMULATOR_MAIN = new URL('../../simulator/src/main.ts', import.meta.url).pathname;

export interface Process {
  child: ChildProcess;
  /** Everything it has written to stdout and stderr so far. */
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts `script` with only PATH and `env` in its environment; killed (SIGKILL) after the test if still running. */
function launch(script: string, env: Record<string, string>): Process {
  const child = spawn(process.execPath, [script], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, output: () => output, exited };
}

/** Waits until `pattern` appears in the output; fails with the output if the process exits first. */
async function printed(proc: Process, pattern: RegExp, what: string): Promise<string> {
  for (let waited = 0; waited < 90_000; waited += 50) {
    if (pattern.test(proc.output())) return proc.output();
    if (proc.child.exitCode !== null) throw new Error(`${what} exited:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not start:\n${proc.output()}`);
}

/**
 * The Rampart server (`packages/server/src/main.ts`), on any free port unless `env.PORT`
 * says otherwise. Its webhook receivers and approval endpoint are the test's own, on
 * 127.0.0.1: private URLs are allowed, as a deployment with such receivers would.
 */
export function launchServer(env: Record<string, string>): Process {
  return launch(SERVER_MAIN, {
    PORT: '0',
    RAMPART_SIMULATOR_PORT: '0',
    LOG_LEVEL: 'warn',
    RAMPART_WEBHOOK_ALLOW_PRIVATE_URLS: 'true',
    ...env,
  });
}

/** Waits for the server's banner: its API URL and, on a first start, the demo operator's secret key. */
export async function serverReady(server: Process): Promise<{ url: string; secret: string | undefined }> {
  const output = await printed(server, /Rampart API\s+\S+[\s\S]*(Operators|Secret key)/, 'server');
  return {
    url: /Rampart API\s+(\S+)/.exec(output)![1]!,
    secret: /Secret key\s+(rk_test_\w+)/.exec(output)?.[1],
  };
}

/** Opens a server's operator for payments, gates off, with `settings` besides: what a process test starts from. */
export async function openForPaymentsAt(url: string, secret: string, settings: Record<string, unknown>): Promise<void> {
  const configured = await fetch(`${url}/v1/operator/settings`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      required_gates: { terms: false, email: false, phone: false, kyc: 'none', geo: false },
      ...settings,
    }),
  });
  if (configured.status !== 200) throw new Error(`settings refused: ${await configured.text()}`);
}

/** The simulator as a process of its own, outliving any Rampart server that calls it. */
export async function launchSimulator(env: Record<string, string>): Promise<{ url: string; proc: Process }> {
  const proc = launch(SIMULATOR_MAIN, { PORT: '0', ...env });
  const output = await printed(proc, /Simulator\s+\S+/, 'simulator');
  return { url: /Simulator\s+(\S+)/.exec(output)![1]!, proc };
}

/** A TCP port free right now, for a server that must come back on the same address after a restart. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
