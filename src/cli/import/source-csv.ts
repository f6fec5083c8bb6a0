import { createReadStream } from 'node:fs';
import { parse, type CsvError } from 'csv-parse';
import { snippet, type InputPosition, type ReadOptions, type SourceItem } from './source.js';

const NUMBER = /^-?(0|[1-9]\d{0,15})(\.\d+)?([eE][+-]?\d+)?$/;

/**
 * CSV (RFC 4180) with a header row naming the fields, through csv-parse:
 * quoted fields, embedded newlines and a BOM are handled there. A row with
 * the wrong number of fields is an unreadable item. Values that read as
 * numbers (`412`, `-1.5`, not `007`) and `true`/`false` become JSON numbers
 * and booleans unless `csvStrings`; an empty field stays "". A resumed read
 * parses the rows before `from` again and skips them (a row may span lines,
 * so there is no cheap way to start mid-file).
 */
export async function* readCsv(path: string, from: InputPosition, options: ReadOptions): AsyncGenerator<SourceItem> {
  // csv-parse reports a bad row through on_skip while it parses a chunk, before the rows ahead of it are read from
  // the stream: each waits here until the rows before its line have been given out.
  const skipped: { message: string; raw: string; line: number }[] = [];
  const parser = createReadStream(path, { highWaterMark: 256 * 1024 }).pipe(
    parse({
      columns: true,
      bom: true,
      info: true,
      raw: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      on_skip: (err, raw) => {
        if (err) skipped.push({ message: err.message, raw: raw ?? '', line: (err as CsvError & { lines?: number }).lines ?? 0 });
        return undefined;
      },
      cast: options.csvStrings ? false : (value, context) => (context.header ? value : typed(value)),
    }),
  );
  let items = 0;
  let lines = 0;
  let bytes = 0;
  function* invalidBefore(line: number): Generator<SourceItem> {
    while (skipped.length > 0 && skipped[0]!.line < line) {
      const s = skipped.shift()!;
      items++;
      lines = Math.max(lines, s.line);
      if (items > from.items) {
        yield { kind: 'invalid', number: items, line: s.line, after: { offset: bytes, items, lines }, message: s.message, text: snippet(s.raw.replace(/\r?\n$/, '')) };
      }
    }
  }
  for await (const row of parser as AsyncIterable<{ info: { lines: number; bytes: number }; raw: string; record: Record<string, unknown> }>) {
    const rawLines = row.raw.replace(/\r?\n$/, '').split('\n').length;
    const line = row.info.lines - rawLines + 1;
    yield* invalidBefore(line);
    items++;
    lines = row.info.lines;
    bytes = row.info.bytes;
    if (items <= from.items) continue;
    yield { kind: 'record', value: row.record, number: items, line, after: { offset: bytes, items, lines } };
  }
  yield* invalidBefore(Number.POSITIVE_INFINITY);
}

function typed(value: string): unknown {
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (NUMBER.test(value)) {
    const n = Number(value);
    if (Number.isFinite(n)) return n;
  }
  return value;
}
