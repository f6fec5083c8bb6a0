import { OmnibusError, OmnibusUsageError, retryAfterMs } from './errors.js';
import { approximateSize, prerequisites, type PlannedOp } from './plan.js';
import { answerError, sendHttp, sleep, type TransportSettings } from './transport.js';
import { WireFormatError, type WireDialect, type WireOp, type WireResult } from './wire.js';

export interface ExecContext {
  baseUrl: string;
  dialect: WireDialect;
  /** Lowered when the server says its limit is lower (413 naming it). */
  limits: { maxOperations: number; maxBatchBytes: number };
  transport: TransportSettings;
  maxConcurrentBatches: number;
}

/** An operation's answer, or why it has none (the request carrying it was refused or got no answer). */
export type OpOutcome = WireResult | OmnibusError;

export interface ExecuteOptions {
  /** The first request's Idempotency-Key; the others derive theirs from it (`<key>.<round>.<n>`). */
  key: string;
  signal?: AbortSignal;
  /** Send the requests of one round at once (up to maxConcurrentBatches) rather than one after another. */
  parallel: boolean;
  /**
   * A request refused as a whole, or that got no answer after its retries:
   * answers for its operations. Without it, the error is thrown and nothing
   * more is sent.
   */
  onRefused?: (chunk: number[], error: OmnibusError) => Promise<OpOutcome[]>;
}

/**
 * Runs planned operations as batch requests of the context's dialect:
 * split at the server's limits (operations and bytes), keeping each
 * transaction group and each chain of dependent operations in one request;
 * then the operations answered 429 are sent again after their Retry-After,
 * alone (with the members of their group and the operations that failed only
 * because they depended on them), up to `rateLimitRetries` rounds.
 */
export async function execute(ctx: ExecContext, ops: PlannedOp[], options: ExecuteOptions): Promise<OpOutcome[]> {
  const run = new Execution(ctx, ops, options);
  await run.all();
  return run.outcomes.map((o, i) => o ?? missing(i));
}

class Execution {
  readonly outcomes: (OpOutcome | undefined)[];
  private readonly members = new Map<number, number[]>();

  constructor(
    private readonly ctx: ExecContext,
    private readonly ops: PlannedOp[],
    private readonly options: ExecuteOptions,
  ) {
    this.outcomes = new Array(ops.length);
    ops.forEach((op, i) => {
      if (op.group === undefined) return;
      const list = this.members.get(op.group);
      if (list) list.push(i);
      else this.members.set(op.group, [i]);
    });
  }

  async all(): Promise<void> {
    const { retry } = this.ctx.transport;
    let todo = this.ops.map((_, i) => i);
    for (let round = 0; ; round++) {
      const chunks = this.partition(todo);
      const key = (n: number) => (round === 0 && n === 0 ? this.options.key : `${this.options.key}.${round}.${n}`);
      if (this.options.parallel) {
        let next = 0;
        const worker = async () => {
          while (next < chunks.length) {
            const n = next++;
            await this.send(chunks[n]!, key(n));
          }
        };
        await Promise.all(Array.from({ length: Math.min(this.ctx.maxConcurrentBatches, chunks.length) }, worker));
      } else {
        for (let n = 0; n < chunks.length; n++) await this.send(chunks[n]!, key(n));
      }
      if (round >= retry.rateLimitRetries) return;
      const again = this.rateLimited(todo);
      if (again.length === 0) return;
      let wait = 0;
      for (const i of again) {
        const o = this.outcomes[i];
        if (o && !(o instanceof OmnibusError) && o.status === 429) wait = Math.max(wait, retryAfterMs(o.headers['retry-after']) ?? 1000);
      }
      if (wait > retry.maxRetryAfterMs) return;
      await sleep(wait, this.options.signal);
      todo = again;
    }
  }

  /** Whole units (a group, operations linked by dependencies or references) packed in order into requests within the limits. */
  private partition(todo: number[]): number[][] {
    const parent = new Map<number, number>(todo.map((i) => [i, i]));
    const find = (i: number): number => {
      let root = i;
      while (parent.get(root) !== root) root = parent.get(root)!;
      parent.set(i, root);
      return root;
    };
    const union = (a: number, b: number) => {
      if (!parent.has(a) || !parent.has(b)) return;
      const ra = find(a);
      const rb = find(b);
      if (ra !== rb) parent.set(Math.max(ra, rb), Math.min(ra, rb));
    };
    for (const i of todo) {
      const op = this.ops[i]!;
      if (op.group !== undefined) union(i, this.members.get(op.group)![0]!);
      for (const p of prerequisites(op, (g) => this.members.get(g) ?? [])) union(i, p);
    }
    const units = new Map<number, { ops: number[]; bytes: number }>();
    for (const i of todo) {
      const root = find(i);
      const unit = units.get(root) ?? { ops: [], bytes: 0 };
      unit.ops.push(i);
      unit.bytes += approximateSize(this.ops[i]!);
      units.set(root, unit);
    }
    const { maxOperations, maxBatchBytes } = this.ctx.limits;
    const chunks: number[][] = [];
    let current: number[] = [];
    let bytes = 0;
    for (const unit of units.values()) {
      if (unit.ops.length > maxOperations) {
        throw new OmnibusUsageError(
          `${unit.ops.length} operations that must travel together (a transaction group, or operations linked by dependsOn or references) do not fit in one batch of at most ${maxOperations}`,
        );
      }
      if (current.length > 0 && (current.length + unit.ops.length > maxOperations || bytes + unit.bytes > maxBatchBytes)) {
        chunks.push(current);
        current = [];
        bytes = 0;
      }
      current.push(...unit.ops);
      bytes += unit.bytes;
    }
    if (current.length > 0) chunks.push(current);
    return chunks.map((c) => c.sort((a, b) => a - b));
  }

  /** One batch request for `chunk`; its answers go to `outcomes`. */
  private async send(chunk: number[], key: string): Promise<void> {
    const wire = this.wireOps(chunk);
    const sent = wire.map((w) => w.index);
    if (sent.length === 0) return;
    const { dialect } = this.ctx;
    const encoded = dialect.encode(wire.map((w) => w.op));
    let error: OmnibusError;
    try {
      const answer = await sendHttp(this.ctx.transport, {
        method: 'POST',
        url: this.ctx.baseUrl + dialect.endpoint,
        headers: encoded.headers,
        body: encoded.body,
        idempotencyKey: key,
        operations: sent.length,
        signal: this.options.signal,
      });
      if (answer.status === 200) {
        const results = dialect.decode(answer.text, wire.map((w) => w.op));
        sent.forEach((i, n) => (this.outcomes[i] = results[n] ?? missing(i)));
        return;
      }
      error = answerError(answer);
      if (answer.status === 413 && sent.length > 1 && this.shrink(error, sent.length, encoded.body.length)) {
        let n = 0;
        for (const part of this.partition(sent)) await this.send(part, `${key}.s${n++}`);
        return;
      }
    } catch (err) {
      if (err instanceof WireFormatError) error = new OmnibusError('bad_answer', err.message);
      else if (err instanceof OmnibusError) error = err;
      else throw err;
    }
    if (!this.options.onRefused) throw error;
    const replacements = await this.options.onRefused(sent, error);
    sent.forEach((i, n) => (this.outcomes[i] = replacements[n] ?? error));
  }

  /** Lowers the limit the server named (batch_too_large) or the byte budget (body_too_large); false when nothing can shrink. */
  private shrink(error: OmnibusError & { detail?: string }, count: number, bytes: number): boolean {
    const limits = this.ctx.limits;
    if (error.code === 'batch_too_large') {
      const named = Number(/at most (\d+)/.exec(error.detail ?? error.message)?.[1]);
      const limit = Number.isInteger(named) && named > 0 && named < count ? named : Math.floor(count / 2);
      if (limit < 1 || limit >= limits.maxOperations + 1) return false;
      limits.maxOperations = Math.min(limits.maxOperations, limit);
      return true;
    }
    if (error.code === 'body_too_large') {
      limits.maxBatchBytes = Math.min(limits.maxBatchBytes, Math.floor(bytes / 2));
      return true;
    }
    return false;
  }

  /**
   * The chunk's operations in the dialect's terms: references to an
   * operation of the same request stay `$<id>`; references to one that
   * succeeded in an earlier request become its URL or ETag. An operation
   * whose reference has nothing to stand for answers 424 unsent.
   */
  private wireOps(chunk: number[]): { index: number; op: WireOp }[] {
    const inChunk = new Set(chunk);
    const skipped = new Set<number>();
    const out: { index: number; op: WireOp }[] = [];
    for (const i of chunk) {
      const op = this.ops[i]!;
      const fail = (why: string) => {
        skipped.add(i);
        this.outcomes[i] = failedDependency(why);
      };
      const prereqs = prerequisites(op, (g) => this.members.get(g) ?? []);
      if (prereqs.some((p) => skipped.has(p))) {
        fail('An operation it depends on did not run.');
        continue;
      }
      let path = op.path;
      if (op.pathRef) {
        const target = op.pathRef.op;
        if (inChunk.has(target)) path = `$${target + 1}${op.pathRef.rest}`;
        else {
          const url = this.entityUrl(target);
          if (url === undefined) {
            fail(`Operation ${target + 1} produced no entity for its reference.`);
            continue;
          }
          path = url + op.pathRef.rest;
        }
      }
      const headers = { ...op.headers };
      let unresolved = false;
      for (const name of ['if-match', 'if-none-match'] as const) {
        const target = op.etagRefs?.[name];
        if (target === undefined) continue;
        if (inChunk.has(target)) headers[name] = `$${target + 1}`;
        else {
          const etag = this.success(target)?.headers['etag'];
          if (etag === undefined) unresolved = true;
          else headers[name] = etag;
        }
      }
      if (unresolved) {
        fail('An operation it references produced no ETag.');
        continue;
      }
      const dependsOn: string[] = [];
      for (const d of op.dependsOn) {
        if ('op' in d) {
          if (inChunk.has(d.op)) dependsOn.push(String(d.op + 1));
        } else if ((this.members.get(d.group) ?? []).some((m) => inChunk.has(m))) dependsOn.push(`g${d.group + 1}`);
      }
      const w: WireOp = { id: String(i + 1), method: op.method, path, headers };
      if (op.body !== undefined) w.body = op.body;
      if (op.group !== undefined) w.group = `g${op.group + 1}`;
      if (dependsOn.length > 0) w.dependsOn = dependsOn;
      out.push({ index: i, op: w });
    }
    return out;
  }

  private success(i: number): WireResult | undefined {
    const o = this.outcomes[i];
    return o && !(o instanceof OmnibusError) && o.status < 400 ? o : undefined;
  }

  /** What `$<i>` stands for once operation i succeeded: its Location, else (an entity answer, with an ETag) the path it was sent to. */
  private entityUrl(i: number): string | undefined {
    const r = this.success(i);
    if (!r) return undefined;
    const location = r.headers['location'];
    if (location !== undefined) return /^https?:/i.test(location) ? pathOf(location) : location;
    if (r.headers['etag'] === undefined) return undefined;
    const op = this.ops[i]!;
    if (!op.pathRef) return op.path;
    const base = this.entityUrl(op.pathRef.op);
    return base === undefined ? undefined : base + op.pathRef.rest;
  }

  /**
   * Operations of `todo` to send again: those answered 429, the other members
   * of their groups, and those that failed only because they depended on one
   * of these (424), transitively.
   */
  private rateLimited(todo: number[]): number[] {
    const set = new Set<number>();
    for (const i of todo) {
      const o = this.outcomes[i];
      if (o && !(o instanceof OmnibusError) && o.status === 429) set.add(i);
    }
    if (set.size === 0) return [];
    for (let grew = true; grew; ) {
      grew = false;
      for (const i of todo) {
        if (set.has(i)) continue;
        const op = this.ops[i]!;
        const o = this.outcomes[i];
        const groupHit = op.group !== undefined && this.members.get(op.group)!.some((m) => set.has(m));
        let dependent = false;
        if (!groupHit && o && !(o instanceof OmnibusError) && o.status === 424) {
          const failed = prerequisites(op, (g) => this.members.get(g) ?? []).filter((p) => !this.success(p));
          dependent = failed.length > 0 && failed.every((p) => set.has(p));
        }
        if (groupHit || dependent) {
          set.add(i);
          grew = true;
        }
      }
    }
    return todo.filter((i) => set.has(i));
  }
}

function pathOf(url: string): string {
  const u = new URL(url);
  return u.pathname + u.search;
}

function problem(status: number, code: string, title: string, detail: string): WireResult {
  return { status, headers: { 'content-type': 'application/problem+json' }, body: { type: 'about:blank', title, status, detail, code } };
}

function failedDependency(detail: string): WireResult {
  return problem(424, 'failed_dependency', 'Failed Dependency', detail);
}

function missing(i: number): WireResult {
  return problem(502, 'missing_result', 'Missing Result', `The batch answer carried no result for operation ${i + 1}.`);
}
