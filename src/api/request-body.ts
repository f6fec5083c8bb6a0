import { ApiError } from '../errors.js';
import { invalidJson } from '../json/invalid-json.js';
import { parseJsonUnique } from '../json/unique-members.js';
import { isPlainObject } from './merge-patch.js';
import type { RequestBody } from './types.js';

const JSON_TYPES = new Set(['application/json']);
const PATCH_TYPES = new Set(['application/json', 'application/merge-patch+json']);

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * Reads a write's body as a JSON object: 415 for a content type the method
 * does not take, 400 `invalid_json` for text that is not JSON or repeats a
 * member name in an object (what a filter in front reads must be what is stored), 400
 * `bad_request` for JSON that is not an object.
 */
export function readJsonObject(body: RequestBody, method: string): Record<string, unknown> {
  const accepted = method === 'PATCH' ? PATCH_TYPES : JSON_TYPES;
  let value: unknown;
  switch (body.kind) {
    case 'none':
      throw new ApiError(400, 'bad_request', `${method} needs a JSON object body.`);
    case 'json':
      value = body.value;
      break;
    case 'text': {
      const type = mediaType(body.contentType);
      if (!accepted.has(type)) {
        throw new ApiError(
          415,
          'unsupported_media_type',
          `${method} takes ${[...accepted].join(' or ')}, not ${type || 'a body without Content-Type'}.`,
        );
      }
      try {
        value = parseJsonUnique(body.text);
      } catch (err) {
        throw invalidJson(err, 'The body');
      }
    }
  }
  if (!isPlainObject(value)) throw new ApiError(400, 'bad_request', 'The body must be a JSON object.');
  checkStorable(value, '', 0);
  return value;
}

/** Deeper documents than this are refused rather than walked (and stored, and merged) recursively. */
export const MAX_JSON_DEPTH = 64;

/**
 * Refuses strings no backend can store alike: NUL (PostgreSQL's jsonb rejects
 * it) and lone UTF-16 surrogates (not Unicode text). Keys are checked too.
 */
function checkStorable(value: unknown, at: string, depth: number): void {
  if (depth > MAX_JSON_DEPTH) throw new ApiError(400, 'bad_request', `The body nests deeper than ${MAX_JSON_DEPTH} levels.`);
  if (typeof value === 'string') {
    if (value.includes('\u0000') || !value.isWellFormed()) {
      throw new ApiError(400, 'bad_request', `The string at ${at || '/'} contains NUL or a lone surrogate.`);
    }
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkStorable(value[i], `${at}/${i}`, depth + 1);
  } else if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      checkStorable(key, at, depth);
      checkStorable((value as Record<string, unknown>)[key], `${at}/${key}`, depth + 1);
    }
  }
}
