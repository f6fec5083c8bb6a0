import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { BatchOutcome, OperationResult } from '../../engine/types.js';
import type { ApiError } from '../../errors.js';
import { canonicalHeaderName, isProblem, odataError, odataRefusal } from '../odata/responses.js';
import type { EncodedResponse } from '../types.js';
import type { MultipartBatchInfo } from './decode.js';

/** The OData version an OData 4 client is answered with. */
export const ODATA_VERSION = '4.0';
/** What an OData v2/v3 client (one that sent `DataServiceVersion`) is answered with. */
export const DATA_SERVICE_VERSION = '2.0';

const CRLF = '\r\n';

/** Headers a part's HTTP response never repeats: its framing is the multipart's. */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection']);

/**
 * The multipart answer of OData 4.0 §11.7.4: `multipart/mixed;
 * boundary=batchresponse_<uuid>`, one part per request part in order
 * (operations that never started, after a stop, are left out), each an
 * `application/http` response `HTTP/1.1 <status> <reason>`, its headers
 * and body. A change set that succeeded answers a nested
 * `changesetresponse_<uuid>` multipart with one part per request, each
 * echoing its Content-ID; one that failed answers ONE `application/http`
 * part with the failing request's status and OData error. 200, or 202 for
 * a client that sent `DataServiceVersion` (OData v2/v3).
 */
export function encodeMultipartResponse(outcome: BatchOutcome, info: MultipartBatchInfo): EncodedResponse {
  const byIndex = new Map(outcome.results.map((r) => [r.index, r]));
  const boundary = `batchresponse_${randomUUID()}`;
  const out: string[] = [];
  for (const part of info.parts) {
    if (part.kind === 'request') {
      const result = byIndex.get(part.index);
      if (result) out.push(`--${boundary}`, httpPart(result, info.contentIds[part.index]));
      continue;
    }
    const results = part.indices.map((i) => byIndex.get(i)).filter((r): r is OperationResult => r !== undefined);
    if (results.length === 0) continue;
    const failed = failure(results);
    if (failed) {
      out.push(`--${boundary}`, httpPart(failed, info.contentIds[failed.index]));
      continue;
    }
    const changeset = `changesetresponse_${randomUUID()}`;
    // Only the Content-Type: dynamics-web-api reads the change set's delimiter from the line after it.
    out.push(`--${boundary}`, `Content-Type: multipart/mixed; boundary=${changeset}${CRLF}`);
    for (const r of results) out.push(`--${changeset}`, httpPart(r, info.contentIds[r.index]));
    out.push(`--${changeset}--`);
  }
  out.push(`--${boundary}--${CRLF}`);
  const headers: Record<string, string> = { 'content-type': `multipart/mixed; boundary=${boundary}` };
  if (info.legacy) headers['dataserviceversion'] = DATA_SERVICE_VERSION;
  else headers['odata-version'] = ODATA_VERSION;
  if (info.preferenceApplied) headers['preference-applied'] = info.preferenceApplied;
  return { status: info.legacy ? 202 : 200, headers, body: out.join(CRLF) };
}

/**
 * The request whose failure failed the change set: the member that kept its
 * own status (the others answer 424 `transaction_rolled_back`), or, when the
 * transaction itself failed and every member carries its problem, the first.
 */
function failure(results: OperationResult[]): OperationResult | undefined {
  const failed = results.filter((r) => r.status >= 400);
  if (failed.length === 0) return undefined;
  return failed.find((r) => !isRollback(r)) ?? failed[0];
}

function isRollback(r: OperationResult): boolean {
  return r.status === 424 && (r.body as { code?: unknown } | undefined)?.code === 'transaction_rolled_back';
}

/** One `application/http` part: MIME headers, a blank line, then the HTTP response. */
function httpPart(r: OperationResult, contentId: string | undefined): string {
  const lines = ['Content-Type: application/http', 'Content-Transfer-Encoding: binary'];
  if (contentId !== undefined) lines.push(`Content-ID: ${contentId}`);
  lines.push('', `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? 'Unknown'}`);
  // No body for 204 or 304, whatever the route gave.
  const hasBody = r.status !== 204 && r.status !== 304 && (r.body !== undefined || r.text !== undefined);
  const problem = hasBody && r.text === undefined && isProblem(r);
  for (const name in r.headers) {
    const lower = name.toLowerCase();
    if (FRAMING.has(lower) || (lower === 'content-type' && (!hasBody || problem))) continue;
    lines.push(`${canonicalHeaderName(lower)}: ${r.headers[name]}`);
  }
  // The blank line that ends the headers is there without a body too (RFC 9112 §2.1).
  if (!hasBody) return lines.join(CRLF) + CRLF + CRLF;
  let body: string;
  if (problem) {
    lines.push('Content-Type: application/json');
    body = JSON.stringify(odataError(r.body as Record<string, unknown>));
  } else {
    body = r.text ?? JSON.stringify(r.body);
  }
  lines.push('', body);
  return lines.join(CRLF);
}

/** A refused batch: its status and `{"error":{"code","message"}}` in JSON, the message naming the format. */
export function encodeMultipartError(error: ApiError): EncodedResponse {
  return odataRefusal(error, 'OData multipart batch', ODATA_VERSION);
}
