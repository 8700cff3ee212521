/** Baseline: raw PostgreSQL round trips (`SELECT 1`) from a pool of clients, in its own process. */
import pg from 'pg';

const {
  url,
  connections = 16,
  duration = 10,
} = JSON.parse(process.argv[2] ?? '{}') as {
  url: string;
  connections?: number;
  duration?: number;
};
const pool = new pg.Pool({ connectionString: url, max: connections });
const latencies: number[] = [];
const deadline = performance.now() + duration * 1000;
await Promise.all(
  Array.from({ length: connections }, async () => {
    while (performance.now() < deadline) {
      const start = performance.now();
      await pool.query('SELECT 1');
      latencies.push(performance.now() - start);
    }
  }),
);
await pool.end();
latencies.sort((a, b) => a - b);
const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
console.log(
  JSON.stringify({ rps: latencies.length / duration, p50: at(0.5), p99: at(0.99), errors: 0, total: latencies.length }),
);
