import { OmnibusApiError, type OmnibusError } from './errors.js';
import { execute, type ExecContext, type OpOutcome } from './execute.js';
import type { PlannedOp } from './plan.js';
import { sendSingle } from './single.js';

interface Pending {
  op: PlannedOp;
  resolve: (outcome: OpOutcome) => void;
  reject: (err: unknown) => void;
}

/**
 * DataLoader-style batching of ordinary calls: calls made within `delayMs`
 * of the first (0: the same tick, before any timer runs) are sent together,
 * as one batch split at the server's limits, and each caller gets its own
 * operation's answer. A lone call goes out as a plain request. If the server
 * refuses a batch as a whole because one operation made it invalid (400,
 * 413), each operation is sent again alone, so only that caller gets the
 * error: a refused batch ran nothing.
 */
export class AutoBatcher {
  private queue: Pending[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly ctx: ExecContext,
    private readonly delayMs: number,
    private readonly newKey: () => string,
  ) {}

  add(op: PlannedOp): Promise<OpOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      this.timer ??= setTimeout(() => void this.flush(), this.delayMs);
    });
  }

  /** Sends what is queued now. */
  async flush(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const items = this.queue.splice(0);
    if (items.length === 0) return;
    try {
      if (items.length === 1) {
        items[0]!.resolve(await sendSingle(this.ctx, items[0]!.op, this.newKey()));
        return;
      }
      const ops = items.map((p) => p.op);
      const outcomes = await execute(this.ctx, ops, {
        key: this.newKey(),
        parallel: true,
        onRefused: (chunk, error) => this.refused(ops, chunk, error),
      });
      items.forEach((p, i) => p.resolve(outcomes[i]!));
    } catch (err) {
      for (const p of items) p.reject(err);
    }
  }

  private async refused(ops: PlannedOp[], chunk: number[], error: OmnibusError): Promise<OpOutcome[]> {
    if (!(error instanceof OmnibusApiError) || (error.status !== 400 && error.status !== 413) || chunk.length < 2) return chunk.map(() => error);
    const out: OpOutcome[] = new Array(chunk.length);
    let next = 0;
    const worker = async () => {
      while (next < chunk.length) {
        const n = next++;
        out[n] = await sendSingle(this.ctx, ops[chunk[n]!]!, this.newKey());
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, chunk.length) }, worker));
    return out;
  }
}
