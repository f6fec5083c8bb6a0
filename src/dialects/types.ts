import type { Config } from '../config.js';
import type { ApiError } from '../errors.js';
import type { Batch, BatchOutcome } from '../engine/types.js';

/** What a dialect reads from the batch HTTP request. */
export interface DecodeInput {
  text: string;
  contentType: string | undefined;
  /** The batch request's headers, lower-case names (for seed 002's header inheritance). */
  headers: ReadonlyMap<string, string>;
  /** `http://host:port` the batch request was sent to, for dialects that take absolute URLs of this server. */
  baseUrl?: string;
}

/** What a batch may carry, from configuration. */
export interface DecodeLimits {
  maxOperations: number;
  /** List GETs, where the dialect limits them (Composite's OMNIBUS_COMPOSITE_MAX_QUERIES); absent or 0: no limit beyond `maxOperations`. */
  maxQueries?: number;
}

export interface EncodeContext {
  /** `http://host:port` of this server, for dialects that answer with absolute URLs. */
  baseUrl: string;
}

export interface EncodedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Store facts a dialect may check before anything runs (seed 003's object limit). */
export interface PrecheckEnvironment {
  countObjects(): Promise<number>;
  maxObjects: number;
}

export interface DialectEndpoint {
  path: string;
  /**
   * When set, the endpoint only answers requests with one of these media types (others fall through);
   * `[]` answers none: the path is only reserved, so no operation may target it (see `batchPathsOf`).
   */
  mediaTypes?: readonly string[];
}

/**
 * A batch wire format: a pure decode/encode pair plus its own limits and
 * error form. Adding a dialect never touches the engine: write one of these
 * and register it in `dialects/index.ts`.
 */
export interface Dialect {
  readonly name: string;
  readonly endpoints: readonly DialectEndpoint[];
  /** Seed 002: a `?token=` in an operation's path authenticates that operation. */
  readonly perOperationToken?: boolean;
  maxOperations(config: Config): number;
  /** Request body to canonical batch; throws ApiError for malformed input. */
  decode(input: DecodeInput, limits: DecodeLimits): Batch;
  precheck?(batch: Batch, env: PrecheckEnvironment): Promise<void>;
  encode(batch: Batch, outcome: BatchOutcome, ctx: EncodeContext): EncodedResponse;
  /** A refused batch in this dialect's error form. */
  encodeError(error: ApiError, input: { text?: string }): EncodedResponse;
}
