import { z } from 'zod';
import type { RequestBody } from '../../api/types.js';
import type { Batch, Operation, OperationReferences, UrlValue } from '../../engine/types.js';
import { ApiError } from '../../errors.js';
import { checkCount, parseJsonBatch, parseShape } from '../json-input.js';
import type { DecodeInput, DecodeLimits } from '../types.js';
import { bodyReference, bodyTemplates, isReferenceId, referencesOf, type CompositeReference } from './references.js';
import { compositeUrl } from './urls.js';

/** The transaction group of an `allOrNone` request: every subrequest is in it. */
export const ALL_OR_NONE = 'allOrNone';

const subrequestSchema = z.object({
  method: z
    .string()
    .max(16)
    .regex(/^[A-Z]+$/, 'must be an HTTP method in upper case (GET, POST, PUT, PATCH, DELETE)'),
  url: z.string().min(1).max(8192),
  referenceId: z
    .string()
    .max(255)
    .refine(isReferenceId, 'must be letters, digits and _, beginning with a letter or digit'),
  body: z.unknown().optional(),
  httpHeaders: z.record(z.string(), z.string()).optional(),
});

/** The Composite request document, as decode checks it (and /openapi.json describes it). */
export const compositeSchema = z.object({
  allOrNone: z.boolean().optional(),
  /** Accepted; subrequests always run one at a time, in order. */
  collateSubrequests: z.boolean().optional(),
  compositeRequest: z.array(subrequestSchema),
});

type Subrequest = z.infer<typeof subrequestSchema>;

/** Headers every subrequest takes from the Composite request itself, as on Salesforce; a subrequest may not set them. */
const INHERITED = new Set(['accept', 'authorization', 'content-type']);

/**
 * A Salesforce Composite request (`{"allOrNone", "compositeRequest": [...]}`)
 * to the canonical batch: subrequests in request order, one at a time;
 * `allOrNone: true` puts them all in one transaction group; each
 * `@{refId.path}` becomes a reference to an earlier subrequest's answer, in
 * the url (engine `url` references) or in body strings (engine `body`
 * references), resolved at run time on parsed JSON.
 */
export function decodeComposite(input: DecodeInput, limits: DecodeLimits): Batch {
  const raw = parseJsonBatch(input.text, input.contentType, ['application/json'], 'Composite request');
  checkCount((raw as { compositeRequest?: unknown } | null)?.compositeRequest, limits.maxOperations);
  const doc = parseShape(compositeSchema, raw, 'Composite request');
  const subrequests = doc.compositeRequest;

  const positions = new Map<string, number>();
  subrequests.forEach((r, index) => {
    if (positions.has(r.referenceId)) {
      throw new ApiError(400, 'duplicate_id', `The referenceId ${JSON.stringify(r.referenceId)} is used by more than one subrequest (referenceIds are case-sensitive).`);
    }
    positions.set(r.referenceId, index);
  });

  let queries = 0;
  const operations: Operation[] = subrequests.map((r, index) => {
    const where = `Subrequest ${JSON.stringify(r.referenceId)}`;
    const check = (ref: CompositeReference) => checkReference(ref, index, positions, where);
    for (const name of Object.keys(r.httpHeaders ?? {})) {
      if (INHERITED.has(name.toLowerCase())) {
        throw new ApiError(400, 'invalid_header', `${where}: httpHeaders may not set ${name}; every subrequest takes Accept, Authorization and Content-Type from the Composite request.`);
      }
    }
    const target = compositeUrl(r.url, where);
    if (r.method === 'GET' && target.list) queries++;
    const references: OperationReferences = {};
    if (target.parts) {
      references.url = target.parts.map((p): string | UrlValue => {
        if (typeof p === 'string') return p;
        check(p);
        return p.quoted ? { id: p.refId, select: p.select, quoted: true } : { id: p.refId, select: p.select };
      });
    }
    const body = operationBody(r);
    if (body.kind === 'json') {
      const templates = bodyTemplates(body.value, `${where}: body`);
      for (const { template } of templates) referencesOf(template).forEach(check);
      if (templates.length > 0) references.body = templates.map(({ at, template }) => bodyReference(at, template));
    }
    return {
      index,
      id: r.referenceId,
      method: r.method,
      path: target.path,
      headers: r.httpHeaders ?? {},
      body,
      group: doc.allOrNone === true ? ALL_OR_NONE : undefined,
      references: references.url || references.body ? references : undefined,
    };
  });

  if (limits.maxQueries && queries > limits.maxQueries) {
    throw new ApiError(
      413,
      'batch_too_large',
      `A Composite request may carry at most ${limits.maxQueries} list queries (GETs of a collection); this one has ${queries}.`,
    );
  }
  return { operations };
}

/** A reference names an earlier subrequest: not itself, not a later one, not one that is not there (400 `invalid_dependency`). */
function checkReference(ref: CompositeReference, index: number, positions: Map<string, number>, where: string): void {
  const at = positions.get(ref.refId);
  if (at === undefined) {
    throw new ApiError(400, 'invalid_dependency', `${where}: ${ref.written} names no subrequest of this Composite request (no referenceId ${JSON.stringify(ref.refId)}).`);
  }
  if (at === index) throw new ApiError(400, 'invalid_dependency', `${where}: ${ref.written} refers to the subrequest itself; a reference names an earlier subrequest.`);
  if (at > index) {
    throw new ApiError(400, 'invalid_dependency', `${where}: ${ref.written} refers to a later subrequest; a reference names an earlier one, which has run by then.`);
  }
}

/** `body` is any JSON value, sent as `application/json`; absent or `null`, there is none. */
function operationBody(r: Subrequest): RequestBody {
  return r.body === undefined || r.body === null ? { kind: 'none' } : { kind: 'json', value: r.body };
}
