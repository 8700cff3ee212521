/**
 * Periodic background work of this node (purges, expiries, sweeps). Each job is
 * safe to run on every node at once: it claims rows with SKIP LOCKED or is an
 * idempotent delete. A failing run is logged and tried again at the next tick.
 */
export interface Job {
  name: string;
  everyMs: number;
  run(): Promise<unknown>;
}

export interface JobRunner {
  stop(): Promise<void>;
}

export function startJobs(jobs: readonly Job[], onError: (job: string, error: unknown) => void): JobRunner {
  let stopped = false;
  const running = new Set<Promise<unknown>>();
  const timers = jobs.map((job) => {
    let busy = false;
    const timer = setInterval(() => {
      if (busy || stopped) return; // never two runs of one job on one node at once
      busy = true;
      const run = job
        .run()
        .catch((error: unknown) => onError(job.name, error))
        .finally(() => {
          busy = false;
          running.delete(run);
        });
      running.add(run);
    }, job.everyMs);
    timer.unref();
    return timer;
  });
  return {
    async stop() {
      stopped = true;
      for (const timer of timers) clearInterval(timer);
      await Promise.allSettled([...running]);
    },
  };
}
