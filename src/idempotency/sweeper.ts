import type { Logger } from '../log.js';

/** Rows deleted per statement: each sweep step holds the writer (SQLite) or its rows (PostgreSQL) only that long. */
export const SWEEP_CHUNK = 500;

/**
 * Deletes what has expired every `intervalMs`, in chunks of `SWEEP_CHUNK`
 * with a turn of the event loop between them, so a request never waits
 * behind a whole sweep. Correctness never depends on it: an expired row
 * already means nothing to a lookup. The timer does not keep the process
 * alive; `stop()` waits for a sweep in progress.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly step: (limit: number) => Promise<number>,
    private readonly intervalMs: number,
    private readonly logger?: Pick<Logger, 'warn'>,
    /** Runs the timer in a context of its own (no request's transaction joins a sweep). */
    private readonly inRoot: <T>(fn: () => T) => T = (fn) => fn(),
  ) {}

  start(): this {
    if (this.timer || this.stopped) return this;
    this.timer = this.inRoot(() => setInterval(() => void this.sweep(), this.intervalMs));
    this.timer.unref();
    return this;
  }

  /** One sweep to the end (also what the timer runs). */
  sweep(): Promise<void> {
    this.current = this.current.then(async () => {
      try {
        while (!this.stopped && (await this.step(SWEEP_CHUNK)) >= SWEEP_CHUNK) {
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      } catch (err) {
        this.logger?.warn({ err }, 'sweeping expired rows failed; trying again at the next interval');
      }
    });
    return this.current;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.current;
  }
}

/** How often to sweep keys kept `ttlS` seconds: half the TTL, between 1 s and 10 minutes. */
export function sweepIntervalMs(ttlS: number): number {
  return Math.min(600_000, Math.max(1000, (ttlS * 1000) / 2));
}
