/**
 * Records read from an input file, one at a time, so a file of any size is
 * never held in memory: NDJSON (one JSON object a line), a JSON array of
 * objects, or CSV with a header row. Each item says where it ended, so an
 * import can later resume exactly there.
 */
import { extname } from 'node:path';
import { readCsv } from './source-csv.js';
import { readJsonArray } from './source-json-array.js';
import { readNdjson } from './source-ndjson.js';

export type InputFormat = 'ndjson' | 'json' | 'csv';

/** A position in the input: a byte offset, with the items and lines before it. */
export interface InputPosition {
  offset: number;
  /** Items (records and unreadable ones) before this position. */
  items: number;
  /** Lines before this position (the next item's line is `lines + 1` for line formats). */
  lines: number;
}

export const START: InputPosition = { offset: 0, items: 0, lines: 0 };

export interface SourceRecord {
  kind: 'record';
  value: Record<string, unknown>;
  /** 1-based position among the file's items. */
  number: number;
  /** 1-based line where it starts. */
  line: number;
  /** The position just after it. */
  after: InputPosition;
}

export interface SourceInvalid {
  kind: 'invalid';
  number: number;
  line: number;
  after: InputPosition;
  message: string;
  /** The start of its text, for the failures file. */
  text: string;
}

export type SourceItem = SourceRecord | SourceInvalid;

export interface ReadOptions {
  /** CSV: keep every value a string (default: numbers and true/false become JSON numbers and booleans). */
  csvStrings?: boolean;
}

/** A record larger than this stops the import: no server takes it in one batch (OMNIBUS_MAX_BATCH_BYTES is 10 MiB by default). */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

export class InputError extends Error {}

export function formatOf(path: string, given?: string): InputFormat {
  const name = (given ?? extname(path).slice(1)).toLowerCase();
  if (name === 'ndjson' || name === 'jsonl' || name === 'ldjson') return 'ndjson';
  if (name === 'json') return 'json';
  if (name === 'csv') return 'csv';
  throw new InputError(
    given === undefined
      ? `cannot tell the format of ${path} from its extension: name it .ndjson (or .jsonl), .json or .csv, or pass --format ndjson|json|csv`
      : `unknown --format ${given}: ndjson, json or csv`,
  );
}

/** The items of `path` from `from` on (a position an earlier read gave). */
export function readItems(path: string, format: InputFormat, from: InputPosition = START, options: ReadOptions = {}): AsyncGenerator<SourceItem> {
  switch (format) {
    case 'ndjson':
      return readNdjson(path, from);
    case 'json':
      return readJsonArray(path, from);
    case 'csv':
      return readCsv(path, from, options);
  }
}

export function snippet(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
