export { type AppDependencies, buildApp } from './app.ts';
export { type Config, ConfigError, loadConfig } from './config.ts';
export { DataDirectoryInUse, runningClusterUrl, startEmbeddedPostgres } from './database/embedded.ts';
export { main as runServer, openDatabase, type RunningRampart, startRampart } from './main.ts';
export { presentBalanceTransaction, presentPosition } from './routes/users.ts';
export { loadMasterSecret } from './secrets.ts';
