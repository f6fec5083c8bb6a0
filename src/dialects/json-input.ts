import { z } from 'zod';
import { tooManyOperations } from '../engine/validate.js';
import { ApiError } from '../errors.js';

/** Parses a JSON batch document: 415 unless the content type is JSON, 400 `invalid_json` when it is not JSON. */
export function parseJsonBatch(text: string, contentType: string | undefined, mediaTypes: readonly string[]): unknown {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (!mediaTypes.includes(type)) {
    throw new ApiError(415, 'unsupported_media_type', `A batch takes ${mediaTypes.join(' or ')}, not ${type || 'a body without Content-Type'}.`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, 'invalid_json', `The batch is not valid JSON: ${(err as Error).message}`);
  }
}

/** Validates with a zod schema, turning its first issues into one 400 `bad_request`. */
export function parseShape<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
  throw new ApiError(400, 'bad_request', `The ${what} is malformed: ${issues}.`);
}

/** Refuses an over-long operation list before validating every element of it. */
export function checkCount(list: unknown, max: number): void {
  if (Array.isArray(list) && list.length > max) throw tooManyOperations(max, list.length);
}
