import { ApiError } from '../errors.js';

/** The request header (IETF httpapi draft "The Idempotency-Key HTTP Header Field"), lower-case. */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/** Sent with every replayed response. */
export const REPLAYED_HEADER = 'idempotent-replayed';

const MAX_KEY_LENGTH = 255;
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * The key of an `Idempotency-Key` header value, or undefined when there is
 * none. The draft sends it as a structured-field string
 * (`Idempotency-Key: "8e03978e-40d5"`); a bare value (`Idempotency-Key:
 * 8e03978e-40d5`) is taken as it is. Either way the key is 1 to 255 visible
 * ASCII characters (no space, no control character); anything else, an
 * empty value or two headers (joined with ", "), is 400 `bad_request`.
 */
export function parseIdempotencyKey(value: string | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  let key = value.trim();
  if (key.length >= 2 && key.startsWith('"') && key.endsWith('"')) key = unquote(key);
  if (key.length === 0 || key.length > MAX_KEY_LENGTH || !VISIBLE_ASCII.test(key)) {
    throw new ApiError(
      400,
      'bad_request',
      `Idempotency-Key must be 1 to ${MAX_KEY_LENGTH} visible ASCII characters (letters, digits, punctuation; no spaces), ` +
        'sent once, for example Idempotency-Key: "6f1b0c1e-9d2a-4c47-8a59-0b1f5b1e2d3c".',
    );
  }
  return key;
}

/** The content of a structured-field string: `\"` and `\\` are escapes. */
function unquote(quoted: string): string {
  return quoted.slice(1, -1).replace(/\\(["\\])/g, '$1');
}
