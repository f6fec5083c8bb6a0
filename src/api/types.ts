import type { Principal } from '../auth/principal.js';

/**
 * A request as the resource API sees it: no streams, no framework objects.
 * The HTTP adapter builds one from a Web `Request`; the batch dispatcher
 * builds one straight from an operation, so a batch pays no stream cost.
 */
export interface ApiRequest {
  /** Upper-case HTTP method. */
  method: string;
  /** Path as sent (still percent-encoded), without the query string. */
  path: string;
  query: URLSearchParams;
  /** Lower-case header names. */
  headers: ReadonlyMap<string, string>;
  body: RequestBody;
  /** Trusted, in-process identity; never derived from the request's own headers here. */
  principal: Principal;
}

export type RequestBody =
  | { kind: 'none' }
  /** Already-parsed JSON (the `ops` dialect's bodies): sent as `application/json`. */
  | { kind: 'json'; value: unknown }
  /** Raw text with the request's own content type. */
  | { kind: 'text'; text: string; contentType: string | undefined };

export interface ApiResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** A JSON value, serialised by whoever carries the response. */
  body?: unknown;
  /** A non-JSON body (XML); takes the place of `body`. */
  text?: string;
}

export type ApiHandler = (req: ApiRequest) => Promise<ApiResponse>;

export const NO_BODY: RequestBody = { kind: 'none' };
