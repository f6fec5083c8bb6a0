import { z } from 'zod';
import type { RequestBody } from '../../api/types.js';
import type { Batch, Operation, OperationReferences } from '../../engine/types.js';
import { ApiError } from '../../errors.js';
import { checkCount, parseJsonBatch, parseShape } from '../json-input.js';
import { continueOnErrorPreference } from '../odata/prefer.js';
import { etagReferences } from '../odata/references.js';
import { odataTarget } from '../odata/urls.js';
import type { DecodeInput } from '../types.js';

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

/** The OData JSON batch document, as decode checks it (and /openapi.json describes it). */
export const odataBatchSchema = z.object({ requests: z.array(requestSchema) });

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
  const raw = parseJsonBatch(input.text, input.contentType, ['application/json'], 'OData JSON batch');
  checkCount((raw as { requests?: unknown } | null)?.requests, maxOperations);
  const requests = parseShape(odataBatchSchema, raw, 'OData JSON batch').requests;

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
    const target = odataTarget(r.url, (name) => (ids.has(named(name)) ? named(name) : undefined), input.baseUrl);
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

/** The continue-on-error preference: true, false, or absent/unreadable. */
function continueOnError(prefer: string | undefined): boolean | undefined {
  return continueOnErrorPreference(prefer)?.value;
}

/** The honoured preference as the client wrote it (`odata.continue-on-error=false`). */
function preferenceApplied(prefer: string | undefined): string | undefined {
  return continueOnErrorPreference(prefer)?.text;
}

function duplicate(detail: string): ApiError {
  return new ApiError(400, 'duplicate_id', detail);
}
