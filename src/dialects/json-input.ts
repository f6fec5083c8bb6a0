import { z } from 'zod';
import { tooManyOperations } from '../engine/validate.js';
import { ApiError } from '../errors.js';
import { invalidJson } from '../json/invalid-json.js';
import { parseJsonUnique } from '../json/unique-members.js';

/**
 * Parses a JSON batch document: 415 unless the content type is JSON, 400
 * `invalid_json` when it is not JSON or an object in it repeats a member
 * name (anywhere, operation bodies included: a filter that keeps the first
 * of two `method`s would see another batch than the one that runs).
 * `format` is the dialect's name in messages ("ops batch").
 */
export function parseJsonBatch(text: string, contentType: string | undefined, mediaTypes: readonly string[], format: string): unknown {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (!mediaTypes.includes(type)) {
    throw new ApiError(415, 'unsupported_media_type', `The ${format} takes ${mediaTypes.join(' or ')}, not ${type || 'a body without Content-Type'}.`);
  }
  try {
    return parseJsonUnique(text);
  } catch (err) {
    throw invalidJson(err, `The ${format}`);
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
