import type { ApiRequest, ApiResponse, RequestBody } from '../api/types.js';
import type { Principal } from '../auth/principal.js';
import type { ApiError } from '../errors.js';

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
  /**
   * Ids of operations, or group names, that must finish first; each must
   * stand earlier in the batch (engine/plan.ts). Only a batch in `graph`
   * order has them.
   */
  dependsOn?: string[];
  /** Values that stand for an earlier operation's result, resolved when this one is dispatched. */
  references?: OperationReferences;
  /**
   * Makes a create conditional (FHIR's `ifNoneExist`): a query (`$filter=...`)
   * for a list GET of the operation's own path, dispatched first as the same
   * principal and in the same transaction (engine/conditional-create.ts). No
   * item: the operation runs. One: it does not run, and answers 200 with that
   * record, its `ETag` and its `Location`, so a reference to the operation
   * stands for that record. More: 412 `precondition_failed`.
   */
  ifNoneExist?: string;
}

/**
 * Values of an operation that stand for another operation's result (OData's
 * `$1`), in canonical form: a dialect parses its own syntax into this; the
 * engine checks them (engine/plan.ts) and resolves them (engine/references.ts).
 */
export interface OperationReferences {
  /**
   * The path is the URL of the entity that operation `id` created or
   * returned, followed by `rest`: `''`, `/<segments>` or `?<query>`.
   */
  path?: { id: string; rest: string };
  /** Header name (lower-case) to the id of the operation whose `ETag` it carries (`If-Match: $1`). */
  etags?: Record<string, string>;
  /**
   * JSON values of the (JSON) body that stand for values of earlier
   * operations' answers: a created record's id in a relationship, say. Each
   * is set at its place when the operation is dispatched, as data: a
   * substituted value is never parsed or scanned again.
   */
  body?: BodyReference[];
  /**
   * The path (with its query) made of text and values of earlier answers,
   * when a value stands in it (a created record's id as the id segment).
   * Each value is data: percent-encoded inside the one segment or query
   * value it stands in, so it never adds a `/`, `?`, `&` or `=`; the whole
   * path is checked again once resolved, as a `path` reference is. Never
   * given together with `path`.
   */
  url?: (string | UrlValue)[];
}

/** One JSON value of a body that is made of values of earlier answers (see OperationReferences.body). */
export interface BodyReference {
  /** Where in the body: member names and array indices from the root; that member or element exists. */
  at: (string | number)[];
  /**
   * What it becomes: one `ResultValue` alone takes that value with its JSON
   * type (string, number or boolean); several parts are joined as text.
   */
  parts: (string | ResultValue)[];
}

/** The value at `select` (member names and array indices) in the JSON body that operation `id` answered with. */
export interface ResultValue {
  id: string;
  select: (string | number)[];
}

/** A value of an earlier answer in an operation's URL (see OperationReferences.url). */
export interface UrlValue extends ResultValue {
  /** It stands inside a quoted string of a `$filter`: each `'` of it is doubled, so it stays that string's content. */
  quoted?: boolean;
}

export interface Batch {
  operations: Operation[];
  /** Stop at the first operation with status >= 400 (seed 000); in `graph` order, start nothing new after it. */
  stopOnError?: boolean;
  /**
   * `request` (the default): one unit at a time in request order (SPEC 4.3).
   * `graph`: a dependency graph (`dependsOn`, references): units with no path
   * between them may run concurrently, and the dependents of a unit that
   * failed answer 424 `failed_dependency` without running (engine/run.ts).
   */
  order?: 'request' | 'graph';
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
  /** May run `fn` more than once: a transaction the database aborted (deadlock) is re-run from its start. */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * When present, the standalone operations of one batch share one durable
   * commit (see BatchCommit). `standaloneWrites` counts the batch's writes
   * outside groups; a store may answer undefined where one commit would not
   * pay for what it costs (PostgreSQL, for a single write), but not when a
   * `recorder` is given and the batch writes: then every write must commit
   * in a transaction the recorder can write into.
   */
  openBatchCommit?(plan: { standaloneWrites: number; recorder?: CommitRecorder }): BatchCommit | undefined;
  /**
   * When present, a batch commit whose `run` may be called for several
   * operations at once: they share its transaction, their statements go out
   * together, and each statement is atomic on its own. Only for operations
   * that `ExecutionContext.sharesCommit` admits (writes of one record whose
   * one writing statement is all their effect), which need no savepoint of
   * their own to fail alone. Never with a recorder.
   */
  openSharedCommit?(): BatchCommit;
}

/**
 * A row that must be committed together with the first effects of a batch
 * (its idempotency key, src/idempotency/). The first transaction of the
 * batch that commits (its batch commit's, or a group's) calls `write` inside
 * itself, right before COMMIT, and `committed` once COMMIT succeeded; later
 * transactions see `recorded` and write nothing, except the batch commit's
 * last one, which writes again with the outcome. `outcome` is the batch's
 * complete outcome when that transaction is its last one (the recorder
 * stores the answer with it: with the whole batch when nothing committed
 * before, else with its last effects), and undefined when more may commit
 * after it (the recorder stores a claim).
 *
 * Where a batch would commit writes outside any transaction (several at once
 * on separate connections, or no batch commit to join), the engine calls
 * `write(undefined)` outside any transaction before anything runs.
 *
 * `write` may throw (the key is held by another request): the transaction
 * is then rolled back and the batch fails with that error. A transaction
 * that is rolled back or re-run calls `write` again in its next attempt.
 */
export interface CommitRecorder {
  readonly recorded: boolean;
  write(outcome: BatchOutcome | undefined): Promise<void>;
  committed(): void;
}

/**
 * One durable commit for the operations of a batch that are in no group: each
 * runs in its own savepoint of one batch transaction, so a failing operation
 * undoes only itself, exactly as if it had committed alone, and the batch
 * pays one commit instead of one per operation. The batch transaction opens
 * at the first write (a batch of reads never takes the writer) and is
 * committed whenever it has been open for the store's commit interval, before
 * a group, and at the end, always before the batch answers.
 */
export interface BatchCommit {
  /** True while the batch transaction is open (writes of this batch are not yet visible to other connections). */
  readonly open: boolean;
  /** Runs one operation; `undo(result)` true rolls back that operation's effects alone. */
  run<T>(write: boolean, fn: () => Promise<T>, undo: (result: T) => boolean): Promise<T>;
  /**
   * Commits what the batch has done so far (nothing open: no-op). A recorder
   * given at open (see CommitRecorder) writes first if nothing recorded yet,
   * and always with `outcome`, which the batch passes with its last commit.
   */
  commit(outcome?: BatchOutcome): Promise<void>;
  /** Rolls back what is not yet committed (the batch itself failed). */
  abort(): Promise<void>;
}

/**
 * Runs `run` with the records that `requests` name fetched ahead in one go,
 * so that a store with costly round trips answers their reads from memory.
 * Each fetched record is taken once, by the first operation that asks for it;
 * a later one asks the store. Results must equal what the operations would
 * give one by one.
 */
export interface ReadAhead {
  <T>(requests: ApiRequest[], run: () => Promise<T>): Promise<T>;
  /**
   * Whether a write names one record that the read-ahead fetches, and reads
   * that record only through it, before it writes. A run of such writes and
   * reads may share one snapshot in request order: the first operation on a
   * record takes the fetched one, which no earlier operation of the run
   * changed, and every later one on it reads the store and sees the writes
   * before it. Without this, a write ends the run.
   */
  fetchesForWrite?(req: ApiRequest): boolean;
}

/** Called at the start of a group's transaction with its writes: may lock their records in a fixed order (no deadlocks). */
export type LockAhead = (requests: ApiRequest[]) => Promise<void>;

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
  readAhead?: ReadAhead;
  lockAhead?: LockAhead;
  /**
   * Whether an operation may run in a shared batch commit (see
   * TransactionRunner.openSharedCommit): its effect is one writing statement
   * on one record. The graph runner uses one for the independent writes of
   * the first wave when running several units at a time.
   */
  sharesCommit?: (req: ApiRequest) => boolean;
  /**
   * How many units of a `graph` batch may run at the same time (default 1).
   * With a batch commit open they run one at a time regardless: its
   * savepoints live on one connection.
   */
  concurrency?: number;
  /** Told of every error that was not a client's mistake (it answers 5xx), with the operation's index. */
  onUnexpectedError?: (err: unknown) => void;
  /** Commits the batch's first effects together with a row of the caller's (its idempotency key). */
  recorder?: CommitRecorder;
  /**
   * Operations (by index) that answer an error without running, the rate
   * limit having no budget for them; a group with such a member fails.
   */
  refused?: ReadonlyMap<number, ApiError>;
}
