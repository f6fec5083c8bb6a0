import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import type { InputFormat, InputPosition } from './source.js';

/**
 * What an interrupted import leaves behind so that `--resume` can carry on:
 * the batches the server acknowledged and where the first unacknowledged one
 * starts in the input. Written (atomically: a temporary file renamed over
 * it) after every acknowledged batch, and removed when the import finishes.
 * The writes after the first are asynchronous (see StateWriter).
 *
 * Batch k is always the same records (the k-th `batchSize` readable records
 * of an unchanged file), and its Idempotency-Key is derived from the import's
 * `run` id and k, so a batch that was sent but never acknowledged is sent
 * again under the same key: the server answers it from its record instead
 * of writing its records twice.
 */
export interface ImportState {
  version: 1;
  input: { path: string; size: number; mtimeMs: number; format: InputFormat };
  collection: string;
  upsertBy: string | null;
  batchSize: number;
  dialect: string;
  /** Keys of this import are `omnibus-import.<run>.<batch>`. */
  run: string;
  /** The first batch not acknowledged, and where its items start. */
  next: { batch: number; at: InputPosition };
  /** Batches after `next.batch` that were acknowledged already (they finished out of order). */
  acked: number[];
  imported: number;
  failed: number;
  failures: string;
  updated: string;
}

export class StateError extends Error {}

export function newRun(parts: string[]): string {
  return createHash('sha256')
    .update([...parts, randomBytes(16).toString('hex')].join('\u0000'))
    .digest('base64url')
    .slice(0, 22);
}

export function batchKey(run: string, batch: number): string {
  return `omnibus-import.${run}.${batch}`;
}

export function readState(path: string): ImportState | undefined {
  if (!existsSync(path)) return undefined;
  let state: ImportState;
  try {
    state = JSON.parse(readFileSync(path, 'utf8')) as ImportState;
  } catch (err) {
    throw new StateError(`the resume state ${path} cannot be read (${(err as Error).message}); delete it to import from the start`);
  }
  if (state.version !== 1 || typeof state.run !== 'string' || !state.next) throw new StateError(`${path} is not an import state file of this version of omnibus`);
  return state;
}

export function writeState(path: string, state: ImportState): void {
  state.updated = new Date().toISOString();
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  renameSync(tmp, path);
}

/**
 * Saves the state after each acknowledged batch without holding up the
 * import: a rename over an existing file costs about a millisecond on ext4
 * (it flushes the new file's data), which done synchronously after every
 * batch took a tenth of the CLI's time. One write runs at a time; acks that
 * come meanwhile are saved by the next write, with the latest state. A kill
 * of the CLI loses at most the acks since the last finished write: those
 * batches are sent again under their keys on --resume, answered from the
 * server's record, and counted then (the saved counts never included them).
 */
export class StateWriter {
  private writing: Promise<void> | undefined;
  private pending: string | undefined;
  private failure: unknown;

  constructor(private readonly path: string) {}

  save(state: ImportState): void {
    state.updated = new Date().toISOString();
    this.pending = JSON.stringify(state, null, 2) + '\n';
    this.writing ??= this.drain();
  }

  /** Resolves once the latest saved state is on disk; rejects if a write failed. */
  async flush(): Promise<void> {
    await this.writing;
    if (this.failure !== undefined) throw this.failure;
  }

  private async drain(): Promise<void> {
    const tmp = `${this.path}.tmp`;
    try {
      while (this.pending !== undefined) {
        const text = this.pending;
        this.pending = undefined;
        await writeFile(tmp, text);
        await rename(tmp, this.path);
      }
    } catch (err) {
      this.failure ??= err;
    } finally {
      this.writing = undefined;
    }
  }
}

export function removeState(path: string): void {
  rmSync(path, { force: true });
  rmSync(`${path}.tmp`, { force: true });
}

/** Why `state` cannot resume an import of this file with these options, or undefined when it can. */
export function mismatch(state: ImportState, input: string, options: { collection: string; upsertBy: string | null; format: InputFormat }): string | undefined {
  const stat = statSync(input);
  if (state.input.size !== stat.size || Math.abs(state.input.mtimeMs - stat.mtimeMs) > 1) {
    return `${input} changed since the interrupted import (size or modification time): the batches would not be the same records`;
  }
  if (state.collection !== options.collection) return `the interrupted import went to --collection ${state.collection}, not ${options.collection}`;
  if (state.upsertBy !== options.upsertBy) return `the interrupted import ran with ${state.upsertBy ? `--upsert-by ${state.upsertBy}` : 'no --upsert-by'}`;
  if (state.input.format !== options.format) return `the interrupted import read the file as ${state.input.format}`;
  return undefined;
}
