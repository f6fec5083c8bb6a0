import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseRateLimit, type RateLimit } from './rate-limit/parse.js';

/** A collection the server knows from configuration. `name` may have several segments (`time/projects`). */
export interface CollectionConfig {
  name: string;
  /** Optional JSON Schema every written record must satisfy (422 otherwise). */
  schema?: Record<string, unknown>;
}

export interface Config {
  port: number;
  host: string;
  /** `postgres://...` selects PostgreSQL; otherwise SQLite at `sqlitePath`. */
  databaseUrl?: string;
  sqlitePath: string;
  tokens?: string;
  maxOps: number;
  maxXmlOps: number;
  maxBatchBytes: number;
  /** Per-tenant record limit; 0 means unlimited. */
  maxObjects: number;
  tenantMaxObjects: Record<string, number>;
  requireIfMatch: boolean;
  batchDeadlineMs: number;
  /** Longest time a batch holds the SQLite writer before committing what it has done so far. */
  batchCommitMs: number;
  /** Independent operations of one batch that may run at the same time (dialects with a dependency graph). */
  batchConcurrency: number;
  /** List GETs one Composite request may carry (Salesforce allows 5); 0: no limit beyond `maxOps`. */
  compositeMaxQueries: number;
  /** Seconds an Idempotency-Key's response is kept and replayed. */
  idempotencyTtlS: number;
  /** Seconds a claimed Idempotency-Key holds for a request that is not one transaction (renewed while it runs). */
  idempotencyLeaseS: number;
  /** Requests per window per principal (OMNIBUS_RATE_LIMIT, e.g. `600/60s`); undefined: no limit. */
  rateLimit?: RateLimit;
  /** OMNIBUS_METRICS_PORT: serve `/metrics` on this port of `host`, without a token, and not on `port`; undefined: on `port`, to admin tokens. */
  metricsPort?: number;
  logLevel: string;
  /** When true, any valid single-segment collection name is created on first write. */
  openCollections: boolean;
  collections: CollectionConfig[];
}

export const DEFAULTS: Config = {
  port: 3000,
  host: '127.0.0.1',
  sqlitePath: './data/omnibus.db',
  maxOps: 100,
  maxXmlOps: 64,
  maxBatchBytes: 10 * 1024 * 1024,
  maxObjects: 0,
  tenantMaxObjects: {},
  requireIfMatch: false,
  batchDeadlineMs: 30_000,
  batchCommitMs: 20,
  batchConcurrency: 8,
  compositeMaxQueries: 0,
  idempotencyTtlS: 86_400,
  idempotencyLeaseS: 60,
  logLevel: 'info',
  openCollections: true,
  collections: [],
};

const boolish = z
  .string()
  .transform((s) => s.trim().toLowerCase())
  .refine((s) => ['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off', ''].includes(s), 'expected true or false')
  .transform((s) => ['1', 'true', 'yes', 'on'].includes(s));
const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().min(0);

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).optional(),
  HOST: z.string().min(1).optional(),
  DATABASE_URL: z.string().min(1).optional(),
  OMNIBUS_DB: z.string().min(1).optional(),
  OMNIBUS_TOKENS: z.string().optional(),
  OMNIBUS_MAX_OPS: positiveInt.optional(),
  OMNIBUS_MAX_XML_OPS: positiveInt.optional(),
  OMNIBUS_MAX_BATCH_BYTES: positiveInt.optional(),
  OMNIBUS_MAX_OBJECTS: nonNegativeInt.optional(),
  OMNIBUS_REQUIRE_IF_MATCH: boolish.optional(),
  OMNIBUS_BATCH_DEADLINE_MS: positiveInt.optional(),
  OMNIBUS_BATCH_COMMIT_MS: nonNegativeInt.optional(),
  OMNIBUS_BATCH_CONCURRENCY: positiveInt.optional(),
  OMNIBUS_COMPOSITE_MAX_QUERIES: nonNegativeInt.optional(),
  OMNIBUS_IDEMPOTENCY_TTL_S: positiveInt.optional(),
  OMNIBUS_IDEMPOTENCY_LEASE_S: positiveInt.optional(),
  OMNIBUS_RATE_LIMIT: z
    .string()
    .transform((s, ctx) => {
      const limit = parseRateLimit(s);
      if (!limit) ctx.addIssue({ code: 'custom', message: 'expected <requests>/<window>, e.g. 600/60s (also 600/1m, 10/s)' });
      return limit ?? z.NEVER;
    })
    .optional(),
  OMNIBUS_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  OMNIBUS_CONFIG: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).optional(),
});

const collectionNamePattern = /^[A-Za-z][A-Za-z0-9_-]{0,63}(\/[A-Za-z][A-Za-z0-9_-]{0,63})*$/;

const fileSchema = z
  .object({
    openCollections: z.boolean().optional(),
    collections: z
      .array(
        z.object({
          name: z.string().regex(collectionNamePattern, 'collection names are slash-separated identifiers'),
          schema: z.record(z.string(), z.unknown()).optional(),
        }),
      )
      .optional(),
    tenants: z.record(z.string(), z.object({ maxObjects: nonNegativeInt })).optional(),
  })
  .strict();

export class ConfigError extends Error {}

function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Reads configuration from environment variables and an optional JSON config file (`OMNIBUS_CONFIG`). */
export function loadConfig(env: Record<string, string | undefined> = process.env, overrides: Partial<Config> = {}): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) throw new ConfigError(`Invalid environment: ${formatIssues(parsed.error)}`);
  const e = parsed.data;
  const config: Config = {
    ...DEFAULTS,
    port: e.PORT ?? DEFAULTS.port,
    host: e.HOST ?? DEFAULTS.host,
    databaseUrl: e.DATABASE_URL,
    sqlitePath: e.OMNIBUS_DB ?? sqlitePathFromUrl(e.DATABASE_URL) ?? DEFAULTS.sqlitePath,
    tokens: e.OMNIBUS_TOKENS,
    maxOps: e.OMNIBUS_MAX_OPS ?? DEFAULTS.maxOps,
    maxXmlOps: e.OMNIBUS_MAX_XML_OPS ?? DEFAULTS.maxXmlOps,
    maxBatchBytes: e.OMNIBUS_MAX_BATCH_BYTES ?? DEFAULTS.maxBatchBytes,
    maxObjects: e.OMNIBUS_MAX_OBJECTS ?? DEFAULTS.maxObjects,
    requireIfMatch: e.OMNIBUS_REQUIRE_IF_MATCH ?? DEFAULTS.requireIfMatch,
    batchDeadlineMs: e.OMNIBUS_BATCH_DEADLINE_MS ?? DEFAULTS.batchDeadlineMs,
    batchCommitMs: e.OMNIBUS_BATCH_COMMIT_MS ?? DEFAULTS.batchCommitMs,
    batchConcurrency: e.OMNIBUS_BATCH_CONCURRENCY ?? DEFAULTS.batchConcurrency,
    compositeMaxQueries: e.OMNIBUS_COMPOSITE_MAX_QUERIES ?? DEFAULTS.compositeMaxQueries,
    idempotencyTtlS: e.OMNIBUS_IDEMPOTENCY_TTL_S ?? DEFAULTS.idempotencyTtlS,
    idempotencyLeaseS: e.OMNIBUS_IDEMPOTENCY_LEASE_S ?? DEFAULTS.idempotencyLeaseS,
    rateLimit: e.OMNIBUS_RATE_LIMIT,
    metricsPort: e.OMNIBUS_METRICS_PORT,
    logLevel: e.LOG_LEVEL ?? DEFAULTS.logLevel,
  };
  if (e.OMNIBUS_CONFIG) applyConfigFile(config, e.OMNIBUS_CONFIG);
  const result = { ...config, ...stripUndefined(overrides) };
  checkDatabaseUrl(result.databaseUrl);
  return result;
}

function sqlitePathFromUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  if (url.startsWith('sqlite:')) return url.slice('sqlite:'.length).replace(/^\/\//, '');
  if (url.startsWith('file:')) return url.slice('file:'.length).replace(/^\/\//, '');
  return undefined;
}

function applyConfigFile(config: Config, path: string): void {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`Cannot read config file ${path}: ${(err as Error).message}`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`Invalid config file ${path}: ${formatIssues(parsed.error)}`);
  const f = parsed.data;
  if (f.openCollections !== undefined) config.openCollections = f.openCollections;
  if (f.collections) config.collections = f.collections;
  if (f.tenants) {
    config.tenantMaxObjects = Object.fromEntries(Object.entries(f.tenants).map(([t, v]) => [t, v.maxObjects]));
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function isPostgresUrl(url: string | undefined): url is string {
  return !!url && /^postgres(ql)?:\/\//i.test(url);
}

/** The forms `DATABASE_URL` accepts, as the refusal message lists them. */
export const DATABASE_URL_FORMS = [
  'postgres://user:password@host:5432/database (or postgresql://…) for PostgreSQL',
  'sqlite:./path/to/file.db or file:./path/to/file.db for SQLite',
  'unset: SQLite at OMNIBUS_DB (default ./data/omnibus.db)',
];

/** Refuses a `DATABASE_URL` Omnibus cannot use, rather than silently falling back to SQLite. */
export function checkDatabaseUrl(url: string | undefined): void {
  if (url === undefined || isPostgresUrl(url) || /^(sqlite|file):./.test(url)) return;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1];
  const what = scheme ? `the scheme "${scheme}:" is not supported` : 'it is not a URL';
  throw new ConfigError(
    `DATABASE_URL=${redactUrl(url)} cannot be used: ${what}. Use one of:\n` +
      DATABASE_URL_FORMS.map((f) => `  - ${f}`).join('\n'),
  );
}

/** A database URL safe to print: the password is replaced by `***`. */
export function redactUrl(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^:@/?#]*):[^@/?#]*@/, '$1:***@');
}

export const COLLECTION_NAME_PATTERN = collectionNamePattern;
