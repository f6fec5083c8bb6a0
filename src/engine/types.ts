import type { ApiRequest, ApiResponse, RequestBody } from '../api/types.js';
import type { Principal } from '../auth/principal.js';

/** One operation of a batch, in canonical form, whatever dialect it came in. */
export interface Operation {
  /** Position in the request (0-based); results are correlated by it. */
  index: number;
  /** The client's id for the operation, where the dialect has one. */
  id?: string;
  method: string;
  /** As the client wrote it: an absolute path with an optional query string. */
  path: string;
  /** Header names as given; validated and filtered by the engine. */
  headers: Record<string, string>;
  body: RequestBody;
  /** Operations sharing a group run in one store transaction (SPEC 4.5). */
  group?: string;
  /** Ids of operations that must finish first. Today's dialects leave it empty: the plan is a chain. */
  dependsOn?: string[];
}

export interface Batch {
  operations: Operation[];
  /** Stop at the first operation with status >= 400 (seed 000). */
  stopOnError?: boolean;
}

export interface OperationResult {
  index: number;
  id?: string;
  status: number;
  headers: Record<string, string>;
  /** A JSON value (problem or record), or undefined. */
  body?: unknown;
  /** A non-JSON body, in place of `body`. */
  text?: string;
  /** False for operations that never ran (rolled back before their turn, halted, past the deadline). */
  ran: boolean;
}

export interface BatchOutcome {
  /** One result per operation that has an answer, in request order. With stopOnError, the list ends at the failure. */
  results: OperationResult[];
  /** True when stopOnError cut the batch short. */
  halted: boolean;
}

/** Reaches a route in-process. Omnibus's own routes are a direct call; other apps go through fetch. */
export type Dispatcher = (req: ApiRequest) => Promise<ApiResponse>;

/** Runs a function inside one store transaction (see Store.transaction). */
export interface TransactionRunner {
  transaction<T>(fn: () => Promise<T>): Promise<T>;
}

export interface BatchLimits {
  maxOperations: number;
  /** Paths (lower-case, no trailing slash) that route to a batch endpoint of any dialect. */
  batchPaths: ReadonlySet<string>;
}

export interface ExecutionContext {
  principal: Principal;
  dispatch: Dispatcher;
  transactions?: TransactionRunner;
  /** Epoch milliseconds after which no operation starts (504 `deadline_exceeded`). */
  deadline: number;
  /**
   * Resolves a per-operation `?token=` (seed 002 only). When absent, such a
   * parameter is removed from the operation and has no effect.
   */
  authenticateOperation?: (token: string) => Promise<Principal | undefined>;
}
