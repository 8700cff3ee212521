import type { SimulatedClock } from './clock.ts';

interface Task {
  at: number;
  seq: number;
  run: (at: number) => void;
}

/** A bound on pending work: a runaway schedule fails loudly instead of eating memory. */
const MAX_TASKS = 100_000;

/**
 * Future provider events (settlement, ACH return, block confirmations, expiry) on the
 * simulated clock. A task gets the time it was due, so follow-ups scheduled from it
 * keep their spacing even when one clock advance runs many of them at once.
 */
export class Timeline {
  readonly #clock: SimulatedClock;
  readonly #onError: (error: unknown) => void;
  #tasks: Task[] = [];
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(clock: SimulatedClock, onError: (error: unknown) => void) {
    this.#clock = clock;
    this.#onError = onError;
  }

  at(atMs: number, run: (at: number) => void): void {
    if (this.#tasks.length >= MAX_TASKS) throw new Error(`timeline holds ${MAX_TASKS} tasks; refusing more`);
    this.#tasks.push({ at: atMs, seq: this.#seq++, run });
  }

  get pending(): number {
    return this.#tasks.length;
  }

  /** Runs every task due by now, earliest first, including ones that due tasks schedule. */
  runDue(): number {
    if (this.#running) return 0;
    this.#running = true;
    let ran = 0;
    try {
      for (let guard = 0; guard < MAX_TASKS; guard++) {
        const now = this.#clock.nowMs();
        let next: Task | undefined;
        for (const task of this.#tasks) {
          if (task.at <= now && (!next || task.at < next.at || (task.at === next.at && task.seq < next.seq))) {
            next = task;
          }
        }
        if (!next) break;
        this.#tasks.splice(this.#tasks.indexOf(next), 1);
        ran++;
        try {
          next.run(next.at);
        } catch (error) {
          this.#onError(error);
        }
      }
    } finally {
      this.#running = false;
    }
    return ran;
  }

  start(tickMs: number): void {
    this.stop();
    this.#timer = setInterval(() => this.runDue(), tickMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  clear(): void {
    this.#tasks = [];
  }
}
