import { createReadStream } from 'node:fs';
import { InputError, MAX_RECORD_BYTES, isPlainObject, snippet, type InputPosition, type SourceItem } from './source.js';

const enum State {
  /** Before the opening `[`. */
  Before,
  /** Between elements: whitespace, commas, or the closing `]`. */
  Between,
  /** Inside an element. */
  Value,
  /** After the closing `]`: only whitespace. */
  After,
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * A JSON array of objects, read element by element: the scanner finds where
 * each element ends (depth, strings, escapes; byte-wise, which is safe in
 * UTF-8 since no byte of a multi-byte character is ASCII) and parses only
 * that element, so the array is never in memory as a whole. An element that
 * is not an object is an unreadable item. Resumes at a byte offset between
 * two elements.
 */
export async function* readJsonArray(path: string, from: InputPosition): AsyncGenerator<SourceItem> {
  let state = from.offset === 0 ? State.Before : State.Between;
  let offset = from.offset;
  let items = from.items;
  let lines = from.lines;
  // The element being read.
  let parts: Buffer[] = [];
  let size = 0;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let scalar = false;
  let line = 0;

  const finish = (): SourceItem => {
    const raw = Buffer.concat(parts);
    parts = [];
    size = 0;
    items++;
    const after = { offset, items, lines };
    let text = raw.toString('utf8');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return { kind: 'invalid', number: items, line, after, message: `not JSON: ${(err as Error).message}`, text: snippet(text) };
    }
    if (!isPlainObject(value)) {
      text = snippet(text);
      return { kind: 'invalid', number: items, line, after, message: 'not a JSON object', text };
    }
    return { kind: 'record', value, number: items, line, after };
  };

  for await (const chunk of createReadStream(path, { start: from.offset, highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
    let i = 0;
    let valueStart = 0;
    const n = chunk.length;
    while (i < n) {
      const b = chunk[i]!;
      if (state === State.Value) {
        if (inString) {
          if (escaped) escaped = false;
          else if (b === 0x5c) escaped = true;
          else if (b === 0x22) {
            inString = false;
            if (depth === 0) {
              i++;
              offset++;
              parts.push(Buffer.from(chunk.subarray(valueStart, i)));
              state = State.Between;
              yield finish();
              continue;
            }
          }
          if (b === 0x0a) lines++;
          i++;
          offset++;
          continue;
        }
        if (scalar) {
          if (b === 0x2c || b === 0x5d || WS.has(b)) {
            parts.push(Buffer.from(chunk.subarray(valueStart, i)));
            state = State.Between;
            scalar = false;
            yield finish();
            continue; // the delimiter is read as Between
          }
          i++;
          offset++;
          continue;
        }
        if (b === 0x22) inString = true;
        else if (b === 0x7b || b === 0x5b) depth++;
        else if (b === 0x7d || b === 0x5d) {
          depth--;
          if (depth === 0) {
            i++;
            offset++;
            parts.push(Buffer.from(chunk.subarray(valueStart, i)));
            state = State.Between;
            yield finish();
            continue;
          }
        } else if (b === 0x0a) lines++;
        i++;
        offset++;
        continue;
      }
      if (WS.has(b)) {
        if (b === 0x0a) lines++;
        i++;
        offset++;
        continue;
      }
      if (state === State.Before) {
        if (b === 0xef && offset === 0 && chunk[1] === 0xbb && chunk[2] === 0xbf) {
          i += 3;
          offset += 3;
          continue;
        }
        if (b !== 0x5b) throw new InputError(`${path} is not a JSON array: it does not start with "[" (use .ndjson for one object a line)`);
        state = State.Between;
      } else if (state === State.Between) {
        if (b === 0x5d) state = State.After;
        else if (b !== 0x2c) {
          state = State.Value;
          valueStart = i;
          line = lines + 1;
          depth = 0;
          if (b === 0x22) {
            inString = true;
          } else if (b === 0x7b || b === 0x5b) depth = 1;
          else scalar = true;
        }
      } else {
        throw new InputError(`${path}: unexpected text after the closing "]" of the array (line ${lines + 1})`);
      }
      i++;
      offset++;
    }
    if (state === State.Value) {
      parts.push(Buffer.from(chunk.subarray(valueStart)));
      size += n - valueStart;
      if (size > MAX_RECORD_BYTES) throw new InputError(`the element at line ${line} is larger than ${MAX_RECORD_BYTES / 1024 / 1024} MiB: a record that large cannot travel in a batch`);
    }
  }
  if (state === State.Value && scalar) {
    yield finish();
    state = State.Between;
  }
  if (state === State.Before) throw new InputError(`${path} is empty: a JSON array was expected`);
  if ((state as State) !== State.After) throw new InputError(`${path} ends before the JSON array is closed (a missing "]"${state === State.Value ? ', or an element cut short' : ''})`);
}
