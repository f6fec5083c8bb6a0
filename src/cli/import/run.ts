import { appendFileSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { createClient, OmnibusApiError, OmnibusError, OmnibusNetworkError, OmnibusUsageError, type OmnibusClient, type OperationResult } from '../../client/index.js';
import type { TransactionBuilder } from '../../client/builder.js';
import { progressReporter, duration, type ProgressMode } from './progress.js';
import { formatOf, readItems, START, type InputPosition, type SourceInvalid, type SourceItem, type SourceRecord } from './source.js';
import { batchKey, mismatch, newRun, readState, removeState, StateWriter, writeState, type ImportState } from './state.js';

export interface ImportOptions {
  file: string;
  collection: string;
  url: string;
  token?: string;
  concurrency: number;
  batchSize: number;
  upsertBy?: string;
  format?: string;
  resume: boolean;
  statePath?: string;
  failuresPath?: string;
  retries: number;
  progress: ProgressMode;
  csvStrings: boolean;
  /** For messages: how the user runs this command again. */
  out: (line: string) => void;
  err: (line: string) => void;
}

export class ImportStopped extends Error {}

/** Server answers that make every later record fail as well: the import stops (and can be resumed) instead of reporting each record. */
const STOPPING_CODES = new Set([
  'unauthorized',
  'forbidden',
  'object_limit_exceeded',
  'not_found',
  'method_not_allowed',
  'precondition_required',
  'rate_limited',
  'deadline_exceeded',
  'idempotency_key_reused',
  'idempotency_in_progress',
  'missing_result',
]);

interface Batch {
  index: number;
  start: InputPosition;
  end: InputPosition;
  records: SourceRecord[];
  invalid: SourceInvalid[];
}

interface Failure {
  number: number;
  line: number;
  status?: number;
  code: string;
  message: string;
  record?: Record<string, unknown>;
  text?: string;
}

/**
 * `omnibus import`: streams the file's records into a collection in batches
 * of `batchSize`, `concurrency` batches in flight, through omnibus/client.
 * Each batch is one transaction on the server and carries an
 * Idempotency-Key derived from the import's run id and its position, so
 * that a batch sent again (a retry, or `--resume` after an interruption)
 * writes its records exactly once. A record the server refuses (say, 422
 * against the collection's schema) is written to the failures file and the
 * rest of its batch is sent again without it. Returns the exit code: 0 all
 * imported, 2 finished with failed records, 1 stopped.
 */
export async function runImport(o: ImportOptions): Promise<number> {
  const file = resolve(o.file);
  const format = formatOf(file, o.format);
  const size = statSync(file).size;
  const statePath = resolve(o.statePath ?? `${file}.import-state.json`);
  const failuresPath = resolve(o.failuresPath ?? `${file}.failures.ndjson`);
  const collectionPath = collectionUrl(o.collection);
  const upsertBy = o.upsertBy ?? null;

  const existing = readState(statePath);
  let state: ImportState;
  if (o.resume && existing) {
    const why = mismatch(existing, file, { collection: o.collection, upsertBy, format });
    if (why) throw new ImportStopped(`cannot resume: ${why}. Delete ${statePath} to import from the start.`);
    if (existing.batchSize !== o.batchSize) o.err(`note: resuming with --batch-size ${existing.batchSize}, the size the import started with`);
    state = existing;
  } else {
    if (existing) {
      throw new ImportStopped(
        `an earlier import of this file stopped after ${existing.imported.toLocaleString('en-US')} records (${statePath}): ` +
          `add --resume to continue it, or delete that file to import everything again`,
      );
    }
    if (o.resume) {
      // An import that finished removed its state: importing everything again is not what --resume asks for.
      throw new ImportStopped(`nothing to resume: there is no ${statePath} (that import finished, or never started); run the command without --resume to import the whole file`);
    }
    const stat = statSync(file);
    rmSync(failuresPath, { force: true });
    state = {
      version: 1,
      input: { path: file, size: stat.size, mtimeMs: stat.mtimeMs, format },
      collection: o.collection,
      upsertBy,
      batchSize: o.batchSize,
      dialect: 'odata-json',
      run: newRun([file, String(stat.size), String(stat.mtimeMs), o.collection]),
      next: { batch: 0, at: START },
      acked: [],
      imported: 0,
      failed: 0,
      failures: failuresPath,
      updated: '',
    };
    // Before anything is sent: a batch the server commits must be resumable under this run's keys even if none is acknowledged.
    writeState(statePath, state);
  }
  const resumedFrom = state.imported;
  const batchSize = state.batchSize;

  let replayed = 0;
  const client = createClient({
    baseUrl: o.url,
    token: o.token,
    dialect: 'odata-json',
    maxOperations: batchSize,
    autoBatch: false,
    retry: { retries: o.retries },
    onRequest: (e) => {
      if (e.replayed) replayed++;
    },
  });

  const stateWriter = new StateWriter(statePath);
  const acked = new Set(state.acked);
  const starts = new Map<number, InputPosition>([[state.next.batch, state.next.at]]);
  let ackedBytes = state.next.at.offset;
  const progress = progressReporter('import', size, { records: state.imported, failed: state.failed, bytes: ackedBytes }, o.progress);
  const started = Date.now();

  /** Marks a batch acknowledged: its failures written, the watermark moved, the state saved. */
  const acknowledge = (batch: Batch, imported: number, failures: Failure[]) => {
    if (failures.length > 0) appendFileSync(failuresPath, failures.map((f) => JSON.stringify(f)).join('\n') + '\n');
    state.imported += imported;
    state.failed += failures.length;
    ackedBytes += batch.end.offset - batch.start.offset;
    acked.add(batch.index);
    starts.set(batch.index + 1, batch.end);
    advance();
    progress.update({ records: state.imported, failed: state.failed, bytes: ackedBytes });
  };
  const advance = () => {
    while (acked.has(state.next.batch)) {
      acked.delete(state.next.batch);
      starts.delete(state.next.batch);
      state.next = { batch: state.next.batch + 1, at: starts.get(state.next.batch + 1)! };
    }
    state.acked = [...acked].sort((a, b) => a - b);
    stateWriter.save(state);
  };

  let stop: Error | undefined;
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    stop ??= new ImportStopped('interrupted');
    o.err('\nstopping: waiting for the batches in flight (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onSigint);

  const inFlight = new Set<Promise<void>>();
  const dispatch = async (batch: Batch) => {
    if (acked.has(batch.index)) {
      // Acknowledged before the interruption, after batches that were not: already counted.
      acked.delete(batch.index);
      ackedBytes += batch.end.offset - batch.start.offset;
      acked.add(batch.index);
      starts.set(batch.index + 1, batch.end);
      advance();
      return;
    }
    while (inFlight.size >= o.concurrency) await Promise.race(inFlight);
    if (stop) return;
    const p = sendBatch(client, collectionPath, upsertBy, batch, batchKey(state.run, batch.index)).then(
      ({ imported, failures }) => acknowledge(batch, imported, failures),
      (err: unknown) => {
        stop ??= err instanceof Error ? err : new Error(String(err));
      },
    );
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  try {
    let index = state.next.batch;
    let batch: Batch = { index, start: state.next.at, end: state.next.at, records: [], invalid: [] };
    for await (const item of readItems(file, format, state.next.at, { csvStrings: o.csvStrings }) as AsyncIterable<SourceItem>) {
      if (stop) break;
      if (item.kind === 'record') batch.records.push(item);
      else batch.invalid.push(item);
      batch.end = item.after;
      if (batch.records.length === batchSize) {
        await dispatch(batch);
        index++;
        batch = { index, start: batch.end, end: batch.end, records: [], invalid: [] };
      }
    }
    if (!stop && (batch.records.length > 0 || batch.invalid.length > 0)) await dispatch(batch);
  } catch (err) {
    stop ??= err instanceof Error ? err : new Error(String(err));
  } finally {
    await Promise.allSettled([...inFlight]);
    await stateWriter.flush().catch((err: unknown) => {
      stop ??= err instanceof Error ? err : new Error(String(err));
    });
    progress.stop();
    process.off('SIGINT', onSigint);
  }

  const seconds = (Date.now() - started) / 1000;
  const thisRun = state.imported - resumedFrom;
  const rate = seconds > 0 ? Math.round(thisRun / seconds) : thisRun;
  const counts = `${state.imported.toLocaleString('en-US')} records into ${o.collection}`;
  const failed = state.failed > 0 ? `${state.failed.toLocaleString('en-US')} failed (see ${failuresPath})` : '0 failed';
  if (replayed > 0) {
    o.err(`${replayed} batch${replayed === 1 ? ' was' : 'es were'} answered from the server's idempotency record: sent before an interruption, not written again`);
  }
  if (stop) {
    o.err(`omnibus: import stopped: ${explain(stop, o, client, batchSize)}`);
    if (stop instanceof OmnibusUsageError && state.imported === 0 && state.failed === 0 && state.next.batch === 0) {
      // Refused before anything could be written: nothing to resume.
      removeState(statePath);
      return 1;
    }
    o.err(`${counts} so far, ${failed}; run the same command with --resume to continue (state: ${statePath})`);
    return interrupted ? 130 : 1;
  }
  removeState(statePath);
  const resumed = resumedFrom > 0 ? ` (resumed: ${resumedFrom.toLocaleString('en-US')} were imported before)` : '';
  o.out(`imported ${counts} in ${duration(seconds)} (${rate.toLocaleString('en-US')} records/s); ${failed}${resumed}`);
  return state.failed > 0 ? 2 : 0;
}

/** The reason an import stopped, with what to do about it where that is clear. */
function explain(stop: Error, o: ImportOptions, client: OmnibusClient, batchSize: number): string {
  if (stop instanceof OmnibusApiError && stop.status === 401) {
    return `${stop.message} (${o.token ? 'the token is not valid on this server' : 'no token: pass --token or set OMNIBUS_TOKEN'})`;
  }
  if (stop instanceof OmnibusApiError && stop.code === 'forbidden') return `${stop.message} (importing needs a token with the write scope)`;
  if (stop instanceof OmnibusNetworkError) return `${stop.message}: is the server running at ${o.url}?`;
  if (stop instanceof OmnibusUsageError && client.maxOperations < batchSize) {
    return `--batch-size ${batchSize} is more than the server takes in one batch (${client.maxOperations}, its OMNIBUS_MAX_OPS): import again with --batch-size ${client.maxOperations} or less`;
  }
  return stop.message;
}

/** Sends one input batch as one transaction; refused records are taken out and the rest sent again (a derived key each round). */
async function sendBatch(
  client: OmnibusClient,
  collectionPath: string,
  upsertBy: string | null,
  batch: Batch,
  key: string,
): Promise<{ imported: number; failures: Failure[] }> {
  const failures: Failure[] = batch.invalid.map((r) => ({ number: r.number, line: r.line, code: 'invalid_record', message: r.message, text: r.text }));
  let pending: { record: SourceRecord; path: string; method: 'POST' | 'PUT' }[] = [];
  for (const record of batch.records) {
    if (upsertBy === null) {
      pending.push({ record, path: collectionPath, method: 'POST' });
      continue;
    }
    const id = idOf(record.value[upsertBy]);
    if (typeof id !== 'string') failures.push(failure(record, undefined, 'invalid_record', `--upsert-by ${upsertBy}: ${id.why}`));
    else pending.push({ record, path: `${collectionPath}/${encodeURIComponent(id)}`, method: 'PUT' });
  }
  let imported = 0;
  for (let round = 0; pending.length > 0; round++) {
    const roundKey = round === 0 ? key : `${key}-f${round}`;
    let results: OperationResult[];
    try {
      results = await client.batch(
        (b) => {
          b.transaction((t: TransactionBuilder) => {
            for (const p of pending) t.request(p.method, p.path, p.record.value);
          });
        },
        { idempotencyKey: roundKey },
      );
    } catch (err) {
      // Refused as a whole because of one record (a path or body the server will not take): each alone.
      if (err instanceof OmnibusApiError && (err.status === 400 || err.status === 413) && pending.length > 1) {
        for (let i = 0; i < pending.length; i++) {
          const p = pending[i]!;
          const one = await sendAlone(client, p, `${roundKey}-o${i}`);
          if (one === true) imported++;
          else failures.push(failure(p.record, one.status, one.code, one.message));
        }
        return { imported, failures };
      }
      if (err instanceof OmnibusApiError && pending.length === 1 && (err.status === 400 || err.status === 413) && !STOPPING_CODES.has(err.code)) {
        failures.push(failure(pending[0]!.record, err.status, err.code, err.detail ?? err.message));
        return { imported, failures };
      }
      throw err;
    }
    const bad = results.findIndex((r) => !r.ok && r.error.code !== 'transaction_rolled_back');
    if (bad === -1) {
      if (results.every((r) => r.ok)) {
        imported += pending.length;
        return { imported, failures };
      }
      throw new OmnibusError('internal', 'the server rolled the batch back without saying which record failed');
    }
    const r = results[bad] as OperationResult & { ok: false };
    if (r.status >= 500 || STOPPING_CODES.has(r.error.code)) throw r.error;
    failures.push(failure(pending[bad]!.record, r.status, r.error.code, r.error.detail ?? r.error.message));
    pending = pending.filter((_, i) => i !== bad);
  }
  return { imported, failures };
}

async function sendAlone(client: OmnibusClient, p: { record: SourceRecord; path: string; method: string }, key: string): Promise<true | { status: number; code: string; message: string }> {
  try {
    const [r] = await client.batch((b) => {
      b.request(p.method, p.path, p.record.value);
    }, { idempotencyKey: key });
    if (r!.ok) return true;
    if (r!.status >= 500 || STOPPING_CODES.has(r!.error.code)) throw r!.error;
    return { status: r!.status, code: r!.error.code, message: r!.error.detail ?? r!.error.message };
  } catch (err) {
    if (err instanceof OmnibusApiError && (err.status === 400 || err.status === 413) && !STOPPING_CODES.has(err.code)) return { status: err.status, code: err.code, message: err.detail ?? err.message };
    throw err;
  }
}

function failure(record: SourceRecord, status: number | undefined, code: string, message: string): Failure {
  const f: Failure = { number: record.number, line: record.line, code, message, record: record.value };
  if (status !== undefined) f.status = status;
  return f;
}

/** A record id from the --upsert-by field: a string or a number, one path segment the server accepts. */
function idOf(value: unknown): string | { why: string } {
  if (value === undefined || value === null) return { why: 'the record has no such field' };
  if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) return { why: 'the field is neither a string nor a number' };
  const id = String(value);
  if (id === '' || id === '.' || id === '..' || id.length > 256 || /[/\\\u0000-\u001f\u007f]/.test(id)) {
    return { why: `${JSON.stringify(id.slice(0, 60))} cannot be a record id (1 to 256 characters, no "/", "\\" or control characters, not "." or "..")` };
  }
  return id;
}

/** `/v1/<collection>`, each segment percent-encoded (`time/projects` has two). */
export function collectionUrl(collection: string): string {
  const segments = collection.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) throw new ImportStopped(`--collection ${JSON.stringify(collection)} is not a collection name (as books, or time/projects)`);
  return `/v1/${segments.map(encodeURIComponent).join('/')}`;
}
