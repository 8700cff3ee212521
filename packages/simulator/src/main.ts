import { ConfigError, loadConfig } from './config.ts';
import { PROVIDERS } from './providers.ts';
import { type SimulatorOptions, startSimulator } from './simulator.ts';

/** `node packages/simulator/src/main.ts`: the simulator on its own, configured by environment. */
async function main(): Promise<void> {
  let options: SimulatorOptions;
  try {
    options = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`simulator: invalid configuration: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  const simulator = await startSimulator(options);
  console.log(`Simulator       ${simulator.url}   (sandbox providers; never expose it: /admin has no auth)`);
  for (const provider of PROVIDERS) {
    const target = options.webhookTargets?.[provider];
    console.log(`  ${provider.padEnd(7)} ${simulator.url}/${provider}   webhooks → ${target ?? '(none)'}`);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`simulator: ${signal} received, stopping`);
    simulator.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('simulator: error during shutdown', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

if (import.meta.main) await main();
