import type { RequestBody } from '../../api/types.js';
import type { Batch, Operation, OperationReferences } from '../../engine/types.js';
import { tooManyOperations } from '../../engine/validate.js';
import { ApiError } from '../../errors.js';
import { continueOnErrorPreference } from '../odata/prefer.js';
import { etagReferences } from '../odata/references.js';
import { odataTarget } from '../odata/urls.js';
import type { DecodeInput } from '../types.js';
import { parseHttpRequest, type HttpRequestMessage } from './http-message.js';
import { invalidMultipart, multipartBoundary, parseMediaType, quote, splitMultipart, type MimePart } from './mime.js';

/** One part of the batch as `encode` answers it: a request, or a change set of requests (operation indices). */
export type BatchPart = { kind: 'request'; index: number } | { kind: 'changeset'; indices: number[] };

/** What `encode` needs beyond the canonical batch. */
export interface MultipartBatchInfo {
  parts: BatchPart[];
  /** Each operation's Content-ID as the client wrote it, echoed on its answer. */
  contentIds: (string | undefined)[];
  /** `DataServiceVersion` on the request: an OData v2/v3 client, which expects 202. */
  legacy: boolean;
  /** The `Prefer` preference this batch honoured, as `Preference-Applied` names it. */
  preferenceApplied?: string;
}

/** A request read from the body, before it becomes an operation. */
interface RawRequest {
  message: HttpRequestMessage;
  contentId?: string;
  /** The change set it belongs to (its position among the batch's parts), if any. */
  changeset?: number;
  where: Place;
}

/** Where a request stands, for error messages; the text is made only when a message needs it. */
class Place {
  constructor(
    readonly part: number,
    readonly member?: number,
  ) {}
  toString(): string {
    const part = `part ${this.part + 1} of the batch`;
    return this.member === undefined ? part : `request ${this.member + 1} of the change set in ${part}`;
  }
}

/** Transfer encodings that leave the part's text as it is. */
const IDENTITY_ENCODINGS = new Set(['binary', '8bit', '7bit']);

/**
 * An OData multipart batch (OData 4.0 §11.7, and the v2/v3 form) to the
 * canonical batch: every `application/http` part is an operation, every
 * `multipart/mixed` part a change set whose requests form one group. Parts
 * run in request order; without `Prefer: odata.continue-on-error` the batch
 * stops at the first failure.
 *
 * Content-IDs: a `$<Content-ID>` url or `If-Match` value stands for the
 * nearest EARLIER request with that Content-ID (compared ignoring case),
 * which is one of the same change set or of an earlier part; within one
 * change set a Content-ID may appear once (400 `duplicate_id`). Two change
 * sets may reuse one (dynamics-web-api numbers each from 100001), so the
 * canonical operation id of a repeated Content-ID is made unique here and
 * the Content-ID as written is kept for the answer.
 */
export function decodeMultipartBatch(input: DecodeInput, maxOperations: number): { batch: Batch; info: MultipartBatchInfo } {
  const type = (input.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'multipart/mixed') {
    throw new ApiError(415, 'unsupported_media_type', `An OData multipart batch takes multipart/mixed, not ${type || 'a body without Content-Type'}.`);
  }
  const boundary = multipartBoundary(input.contentType, 'batch');
  const raw: RawRequest[] = [];
  const shape: Array<{ kind: 'request' } | { kind: 'changeset'; size: number }> = [];
  splitMultipart(input.text, boundary, 'batch').forEach((part, p) => {
    const where = new Place(p);
    const type = partType(part, where);
    if (type === 'application/http') {
      raw.push(requestOf(part, where));
      shape.push({ kind: 'request' });
      return;
    }
    const members = splitMultipart(part.body, multipartBoundary(part.headers.get('content-type'), `change set in ${where}`), `change set in ${where}`);
    if (members.length === 0) throw invalidMultipart(`The change set in ${where} holds no request.`);
    members.forEach((member, m) => {
      const memberWhere = new Place(p, m);
      if (partType(member, memberWhere) !== 'application/http') {
        throw invalidMultipart(`${capitalise(memberWhere)} is a change set: change sets do not nest.`);
      }
      const request = { ...requestOf(member, memberWhere), changeset: p };
      if (request.message.method === 'GET' || request.message.method === 'HEAD') {
        throw new ApiError(400, 'bad_request', `${capitalise(memberWhere)} is a ${request.message.method}: a change set holds only changes (POST, PUT, PATCH, DELETE); send reads as parts of their own.`);
      }
      raw.push(request);
    });
    shape.push({ kind: 'changeset', size: members.length });
  });
  if (raw.length > maxOperations) throw tooManyOperations(maxOperations, raw.length);

  const operations = toOperations(raw, input.baseUrl);
  const parts: BatchPart[] = [];
  let next = 0;
  for (const s of shape) {
    if (s.kind === 'request') parts.push({ kind: 'request', index: next++ });
    else parts.push({ kind: 'changeset', indices: Array.from({ length: s.size }, () => next++) });
  }
  const preference = continueOnErrorPreference(input.headers.get('prefer'));
  return {
    batch: { operations, order: 'request', stopOnError: preference?.value !== true },
    info: {
      parts,
      contentIds: raw.map((r) => r.contentId),
      legacy: input.headers.has('dataserviceversion'),
      preferenceApplied: preference?.text,
    },
  };
}

/** `application/http` or `multipart/mixed` (a change set); anything else is not a request. */
function partType(part: MimePart, where: Place): 'application/http' | 'multipart/mixed' {
  const contentType = part.headers.get('content-type');
  if (contentType === undefined) throw invalidMultipart(`${capitalise(where)} has no Content-Type; a request part is application/http.`);
  // The common spellings need no parsing.
  const type = contentType === 'application/http' ? contentType : parseMediaType(contentType)?.type;
  if (type !== 'application/http' && type !== 'multipart/mixed') {
    throw invalidMultipart(`${capitalise(where)} is ${quote(contentType)}, not a request (application/http) or a change set (multipart/mixed).`);
  }
  const encoding = part.headers.get('content-transfer-encoding')?.toLowerCase();
  if (encoding !== undefined && !IDENTITY_ENCODINGS.has(encoding)) {
    throw invalidMultipart(`${capitalise(where)} has Content-Transfer-Encoding ${quote(encoding)}; only binary is taken.`);
  }
  return type;
}

function requestOf(part: MimePart, where: Place): RawRequest {
  const message = parseHttpRequest(part.body, where);
  // Content-ID belongs in the part's headers; some clients put it among the request's own.
  let contentId = part.headers.get('content-id');
  if (contentId === undefined) {
    const inner = Object.keys(message.headers).find((name) => name.toLowerCase() === 'content-id');
    if (inner !== undefined) contentId = message.headers[inner];
  }
  if (contentId !== undefined) {
    contentId = contentId.trim();
    if (/^<.*>$/.test(contentId)) contentId = contentId.slice(1, -1).trim(); // RFC 2045 writes it as <id>
    if (contentId === '') throw invalidMultipart(`${capitalise(where)} has an empty Content-ID.`);
  }
  return { message, contentId, where };
}

function toOperations(raw: RawRequest[], baseUrl: string | undefined): Operation[] {
  /** Content-ID (lower-case) to the id of the latest request that carried it so far. */
  const latest = new Map<string, string>();
  /** Operation ids in use, lower-case. */
  const used = new Set<string>();
  /** Content-IDs (lower-case) seen in the current change set. */
  let changesetIds = new Set<string>();
  let changeset: number | undefined;
  return raw.map((r, index) => {
    if (r.changeset !== changeset) {
      changeset = r.changeset;
      changesetIds = new Set();
    }
    const { message } = r;
    // References are resolved against the requests before this one only: one to itself or later finds nothing.
    const target = odataTarget(message.target, (name) => latest.get(name.toLowerCase()), baseUrl);
    const references: OperationReferences = {};
    if (target.reference) references.path = target.reference;
    const etags = etagReferences(message.headers, (name) => latest.get(name.toLowerCase()) ?? name);
    if (etags) references.etags = etags;

    let id: string | undefined;
    if (r.contentId !== undefined) {
      const key = r.contentId.toLowerCase();
      if (r.changeset !== undefined) {
        if (changesetIds.has(key)) {
          throw new ApiError(400, 'duplicate_id', `The Content-ID ${quote(r.contentId)} is used twice in one change set (${r.where}); Content-IDs are compared ignoring case.`);
        }
        changesetIds.add(key);
      }
      id = r.contentId;
      for (let n = 2; used.has(id.toLowerCase()); n++) id = `${r.contentId}~${n}`;
      used.add(id.toLowerCase());
      latest.set(key, id);
    }
    return {
      index,
      id,
      method: message.method,
      path: target.path,
      headers: message.headers,
      body: requestBody(message),
      group: r.changeset === undefined ? undefined : `changeset ${r.changeset + 1}`,
      references: references.path || references.etags ? references : undefined,
    };
  });
}

/** The body as text with its own Content-Type (JSON when it names none); blank is no body. */
function requestBody(message: HttpRequestMessage): RequestBody {
  if (isBlank(message.body)) return { kind: 'none' };
  const name = Object.keys(message.headers).find((n) => n.toLowerCase() === 'content-type');
  return { kind: 'text', text: message.body, contentType: name === undefined ? 'application/json' : message.headers[name] };
}

function capitalise(where: Place): string {
  const s = String(where);
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) return false;
  }
  return true;
}
