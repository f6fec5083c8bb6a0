import { z } from 'zod';
import type { RequestBody } from '../../api/types.js';
import type { Batch, Operation, OperationReferences } from '../../engine/types.js';
import { ApiError } from '../../errors.js';
import { invalidPath } from '../../paths.js';
import { checkCount, parseJsonBatch, parseShape } from '../json-input.js';
import type { DecodeInput } from '../types.js';

/** OData's service root here: a relative url is resolved against it. */
export const SERVICE_ROOT = '/v1/';

const nameSchema = z.string().min(1).max(256);

const requestSchema = z.object({
  id: nameSchema,
  method: z.string().min(1).max(16),
  url: z.string().max(8192),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.unknown().optional(),
  atomicityGroup: nameSchema.optional(),
  dependsOn: z.array(nameSchema).max(1000).optional(),
});

const batchSchema = z.object({ requests: z.array(requestSchema) });

type ODataRequest = z.infer<typeof requestSchema>;

/** What `encode` needs beyond the canonical batch. */
export interface ODataBatchInfo {
  /** Each operation's `atomicityGroup` as the client wrote it (echoed on its response). */
  groups: (string | undefined)[];
  /** The `Prefer` preference this batch honoured, as `Preference-Applied` names it. */
  preferenceApplied?: string;
}

/**
 * An OData JSON batch (`{"requests":[...]}`) to the canonical batch: a
 * dependency graph (`order: 'graph'`) whose ids, group names, dependencies
 * and `$<id>` references are matched ignoring case, as ids must differ in
 * more than case. The engine checks the dependencies and paths.
 */
export function decodeODataBatch(input: DecodeInput, maxOperations: number): { batch: Batch; info: ODataBatchInfo } {
  const raw = parseJsonBatch(input.text, input.contentType, ['application/json']);
  checkCount((raw as { requests?: unknown } | null)?.requests, maxOperations);
  const requests = parseShape(batchSchema, raw, 'OData JSON batch').requests;

  // One namespace for ids and group names, ignoring case: lower-case name to the spelling declared first.
  const names = new Map<string, string>();
  for (const r of requests) {
    const key = r.id.toLowerCase();
    if (names.has(key)) throw duplicate(`The id ${JSON.stringify(r.id)} is used by more than one request (ids are compared ignoring case).`);
    names.set(key, r.id);
  }
  const ids = new Set(names.values());
  for (const r of requests) {
    if (r.atomicityGroup === undefined) continue;
    const key = r.atomicityGroup.toLowerCase();
    const declared = names.get(key);
    if (declared === undefined) names.set(key, r.atomicityGroup);
    else if (ids.has(declared)) throw duplicate(`The atomicity group ${JSON.stringify(r.atomicityGroup)} has the name of a request id.`);
  }
  const named = (name: string): string => names.get(name.toLowerCase()) ?? name;

  const operations: Operation[] = requests.map((r, index) => {
    const target = operationTarget(r.url, (name) => (ids.has(named(name)) ? named(name) : undefined), input.baseUrl);
    const references: OperationReferences = {};
    if (target.reference) references.path = target.reference;
    const etags = etagReferences(r.headers, named);
    if (etags) references.etags = etags;
    return {
      index,
      id: r.id,
      method: r.method.toUpperCase(),
      path: target.path,
      headers: r.headers ?? {},
      body: operationBody(r),
      group: r.atomicityGroup === undefined ? undefined : named(r.atomicityGroup),
      dependsOn: r.dependsOn?.map(named),
      references: references.path || references.etags ? references : undefined,
    };
  });
  return {
    batch: { operations, order: 'graph', stopOnError: continueOnError(input.headers.get('prefer')) === false },
    info: { groups: requests.map((r) => r.atomicityGroup), preferenceApplied: preferenceApplied(input.headers.get('prefer')) },
  };
}

/**
 * The url forms of SPEC 5.5: `$<id>` or `$<id>/<rest>` (a reference, when
 * `<id>` is a request of this batch; `$batch` otherwise names the batch
 * endpoint itself), an absolute path, an absolute URL of this very server
 * (same scheme, host and port; the path after it is checked like any
 * other), or a path relative to the service root `/v1/`.
 */
function operationTarget(
  url: string,
  requestId: (name: string) => string | undefined,
  baseUrl: string | undefined,
): { path: string; reference?: { id: string; rest: string } } {
  if (url.startsWith('$')) {
    const end = url.search(/[/?]/);
    const name = url.slice(1, end < 0 ? undefined : end);
    const id = requestId(name);
    if (id === undefined && name.toLowerCase() === 'batch') return { path: SERVICE_ROOT + url };
    return { path: url, reference: { id: id ?? name, rest: end < 0 ? '' : url.slice(end) } };
  }
  if (url.startsWith('/')) return { path: url };
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(url);
  if (!scheme) return { path: SERVICE_ROOT + url };
  const absolute = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/s.exec(url);
  if (!absolute || !baseUrl || originOf(absolute[1]!, absolute[2]!) !== originOf(...splitOrigin(baseUrl))) {
    throw invalidPath(url, 'is an absolute URL of another server; use a path of this one');
  }
  const rest = absolute[3]!;
  return { path: rest === '' || rest.startsWith('?') ? `/${rest}` : rest };
}

/** `scheme://authority` normalised (case, default port); undefined for userinfo or an unparsable authority. */
function originOf(schemePart: string, authority: string): string | undefined {
  if (authority === '' || authority.includes('@')) return undefined;
  try {
    // Only scheme and authority reach the URL parser: it would resolve dot segments of a path.
    const origin = new URL(`${schemePart}${authority}`).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

function splitOrigin(baseUrl: string): [string, string] {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)/.exec(baseUrl);
  return m ? [m[1]!, m[2]!] : ['', ''];
}

/** `If-Match: $1` and `If-None-Match: $1` stand for request 1's ETag (an entity-tag is quoted, so `$` cannot start one). */
function etagReferences(headers: Record<string, string> | undefined, named: (name: string) => string): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(headers ?? {})) {
    const lower = name.toLowerCase();
    const m = /^\s*\$(\S+?)\s*$/.exec(value);
    if (m && (lower === 'if-match' || lower === 'if-none-match')) (out ??= {})[lower] = named(m[1]!);
  }
  return out;
}

/**
 * `body` is any JSON value and is sent as `application/json`; a string with
 * a non-JSON `content-type` of its own is sent as that text. `null` is no
 * body, as OData has it.
 */
function operationBody(r: ODataRequest): RequestBody {
  if (r.body === undefined || r.body === null) return { kind: 'none' };
  const contentType = Object.entries(r.headers ?? {}).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
  if (typeof r.body === 'string' && contentType !== undefined && !/^application\/([\w.+-]+\+)?json\b/i.test(contentType.trim())) {
    return { kind: 'text', text: r.body, contentType };
  }
  return { kind: 'json', value: r.body };
}

/** The continue-on-error preference (`odata.` prefix optional, as OData 4.01 allows): true, false, or absent/unreadable. */
function continueOnError(prefer: string | undefined): boolean | undefined {
  return findPreference(prefer)?.value;
}

/** The honoured preference as the client wrote it (`odata.continue-on-error=false`); an unreadable one is ignored (RFC 7240). */
function preferenceApplied(prefer: string | undefined): string | undefined {
  return findPreference(prefer)?.text;
}

function findPreference(prefer: string | undefined): { value: boolean; text: string } | undefined {
  if (!prefer) return undefined;
  for (const item of prefer.split(',')) {
    const [token] = item.split(';');
    const m = /^\s*((?:odata\.)?continue-on-error)\s*(?:=\s*"?([^"\s]*)"?)?\s*$/i.exec(token ?? '');
    if (!m) continue;
    const name = m[1]!.toLowerCase();
    const value = m[2]?.toLowerCase();
    if (value === undefined) return { value: true, text: name };
    if (value === 'true' || value === 'false') return { value: value === 'true', text: `${name}=${value}` };
  }
  return undefined;
}

function duplicate(detail: string): ApiError {
  return new ApiError(400, 'duplicate_id', detail);
}
