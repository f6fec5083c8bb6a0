import { ApiError, type ErrorCode } from '../../errors.js';

/** What JSON:API calls the format in every message a user sees. */
export const FORMAT = 'JSON:API atomic operations';

/** Where in the request document each refusal points (a JSON Pointer, RFC 6901), by error. */
const pointers = new WeakMap<ApiError, string>();

/** A refusal of the document, pointing at the member it is about. */
export function refusal(status: number, code: ErrorCode, pointer: string, detail: string): ApiError {
  const error = new ApiError(status, code, detail);
  pointers.set(error, pointer);
  return error;
}

export function pointerOf(error: ApiError): string | undefined {
  return pointers.get(error);
}

/** A JSON Pointer from its reference tokens (`~` and `/` escaped as RFC 6901 says). */
export function pointer(...tokens: (string | number)[]): string {
  let out = '';
  for (const token of tokens) {
    const t = String(token);
    out += '/' + (t.includes('~') || t.includes('/') ? t.replace(/~/g, '~0').replace(/\//g, '~1') : t);
  }
  return out;
}

/** `/atomic:operations/<i>`. */
export function operationPointer(index: number): string {
  return `/atomic:operations/${index}`;
}
