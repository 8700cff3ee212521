import { createIdGenerator, Database, migrate, Operators, systemClock } from '@rampart/core';
import { startSimulator } from '@rampart/simulator';
import { SecretBox, WebhookWorker } from '@rampart/webhooks';
import { buildApp } from './app.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { DataDirectoryInUse, type RunningCluster, startEmbeddedPostgres } from './database/embedded.ts';
import { startJobs } from './jobs.ts';
import { SANDBOX_WEBHOOK_PATHS, sandboxDependencies, sandboxProviders, sandboxWebhookSecrets } from './providers.ts';
import { loadMasterSecret } from './secrets.ts';

export interface RunningRampart {
  url: string;
  close(): Promise<void>;
}

/** Connects to DATABASE_URL, or starts the embedded cluster in the data directory. */
export async function openDatabase(config: Config): Promise<{ db: Database; cluster?: RunningCluster }> {
  if (config.databaseUrl)
    return { db: new Database({ connectionString: config.databaseUrl, maxConnections: config.databasePoolSize }) };
  const cluster = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort });
  return { db: new Database({ connectionString: cluster.url, maxConnections: config.databasePoolSize }), cluster };
}

/**
 * The composition root: configuration, storage, clock and ids are made here and
 * handed to everything else.
 */
export async function startRampart(
  config: Config,
  print: (line: string) => void = console.log,
): Promise<RunningRampart> {
  const { db, cluster } = await openDatabase(config);
  try {
    await migrate(db);
    const clock = systemClock;
    const ids = createIdGenerator();
    const operators = new Operators(db, ids, clock);
    const masterSecret = loadMasterSecret(config.secretsKey, config.dataDir);
    let simulatorUrl = config.simulatorUrl ?? '';
    // A simulator started here signs its webhooks with secrets of this deployment's own.
    const webhookSecrets = config.simulatorUrl ? undefined : sandboxWebhookSecrets(masterSecret);
    const sandbox = config.simulator
      ? sandboxProviders({ simulatorUrl: () => simulatorUrl, clock, db, ...(webhookSecrets ? { webhookSecrets } : {}) })
      : undefined;
    const app = await buildApp({
      config,
      db,
      clock,
      ids,
      masterSecret,
      ...(sandbox ? sandboxDependencies(sandbox) : {}),
    });
    await app.listen({ host: config.host, port: config.port });
    const jobs = startJobs(app.jobs, (job, error) => app.log.error({ err: error, job }, 'background job failed'));
    // Delivers webhooks from this node; any number of nodes may run one (RAMPART_WEBHOOK_CONCURRENCY=0: none).
    const secrets = SecretBox.forWebhookSecrets(masterSecret);
    const webhooks = new WebhookWorker({
      db,
      ids,
      clock,
      config: config.webhooks,
      secrets,
      log: app.log,
      devServer: config.devTools,
    }).start();
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const url = config.publicUrl ?? `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

    const simulator =
      config.simulator && !config.simulatorUrl
        ? await startSimulator({
            port: config.simulatorPort,
            host: config.host,
            clock,
            ...(webhookSecrets ? { secrets: webhookSecrets } : {}),
            webhookTargets: Object.fromEntries(
              Object.entries(SANDBOX_WEBHOOK_PATHS).map(([provider, id]) => [
                provider,
                `${url}/v1/provider-webhooks/${id}`,
              ]),
            ),
          })
        : undefined;
    if (simulator) simulatorUrl = simulator.url;
    print(`Rampart API     ${url}`);
    print(`API reference   ${url}/docs`);
    if (simulator)
      print(
        `Sandbox         ${simulator.url} (simulated bank, card/ACH, crypto and KYC providers, for test mode only)`,
      );
    else if (config.simulatorUrl)
      print(`Sandbox         ${config.simulatorUrl} (external simulator, for test mode only)`);
    print(`Database        ${config.databaseUrl ? 'DATABASE_URL' : `embedded PostgreSQL in ${config.dataDir}`}`);
    const existing = await operators.list();
    if (existing.length > 0) {
      print(
        `Operators       ${existing.length} (${existing[0]!.id} ...); new key: npm run rampart -- keys create --operator ${existing[0]!.id}`,
      );
    } else if (config.demoOperator) {
      const demo = await operators.create({ name: 'Demo Operator', mode: 'test' });
      print(`Demo operator   ${demo.operator.id}`);
      print(`Secret key      ${demo.key.secret}   (shown once; stored only as a hash)`);
      print(`Try it          curl -H "Authorization: Bearer ${demo.key.secret}" ${url}/v1/operator`);
    } else {
      print('Operators       none yet; create the first: npm run rampart -- operators create --name <name>');
    }

    let closed: Promise<void> | undefined;
    return {
      url,
      close() {
        closed ??= (async () => {
          await jobs.stop();
          await webhooks.stop();
          await app.close();
          await simulator?.close();
          await db.close();
          await cluster?.stop();
        })();
        return closed;
      },
    };
  } catch (error) {
    await db.close().catch(() => {});
    await cluster?.stop();
    throw error;
  }
}

/** `npm start`: load configuration, start, and stop cleanly on SIGINT / SIGTERM. */
export async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`rampart: invalid configuration: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  let running: RunningRampart;
  try {
    running = await startRampart(config);
  } catch (error) {
    if (error instanceof DataDirectoryInUse) {
      console.error(`rampart: ${error.message}`);
      process.exit(3);
    }
    throw error;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`rampart: ${signal} received, draining requests and stopping`);
    const force = setTimeout(() => {
      console.error('rampart: shutdown grace period over, exiting');
      process.exit(1);
    }, config.shutdownGraceMs + 30_000);
    force.unref();
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('rampart: error during shutdown', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

if (import.meta.main) await main();
