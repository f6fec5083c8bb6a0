import { createReadStream } from 'node:fs';
import { InputError, MAX_RECORD_BYTES, isPlainObject, snippet, type InputPosition, type SourceItem } from './source.js';

/**
 * NDJSON (JSON Lines): one JSON object a line; blank lines are skipped; a
 * line that is not a JSON object is an unreadable item (reported, not sent).
 * Read from a byte offset, so a resumed import does not read what it skips.
 */
export async function* readNdjson(path: string, from: InputPosition): AsyncGenerator<SourceItem> {
  let offset = from.offset;
  let items = from.items;
  let lines = from.lines;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const item = (raw: Buffer, end: number): SourceItem | undefined => {
    lines++;
    let text = raw.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (lines === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.trim() === '') return undefined;
    items++;
    const after = { offset: end, items, lines };
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return { kind: 'invalid', number: items, line: lines, after, message: `not JSON: ${(err as Error).message}`, text: snippet(text) };
    }
    if (!isPlainObject(value)) return { kind: 'invalid', number: items, line: lines, after, message: 'not a JSON object', text: snippet(text) };
    return { kind: 'record', value, number: items, line: lines, after };
  };
  for await (const chunk of createReadStream(path, { start: from.offset, highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      const raw = pending.length > 0 ? Buffer.concat([...pending, piece]) : piece;
      pending = [];
      pendingBytes = 0;
      offset += nl - start + 1;
      const out = item(raw, offset);
      if (out) yield out;
      start = nl + 1;
    }
    if (start < chunk.length) {
      // Copied: the stream may reuse its buffers.
      pending.push(Buffer.from(chunk.subarray(start)));
      pendingBytes += chunk.length - start;
      offset += chunk.length - start;
      if (pendingBytes > MAX_RECORD_BYTES) throw new InputError(`line ${lines + 1} is longer than ${MAX_RECORD_BYTES / 1024 / 1024} MiB: a record that large cannot travel in a batch`);
    }
  }
  if (pending.length > 0) {
    const out = item(Buffer.concat(pending), offset);
    if (out) yield out;
  }
}
