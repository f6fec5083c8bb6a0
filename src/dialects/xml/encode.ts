import type { OperationResult } from '../../engine/types.js';
import type { ApiError } from '../../errors.js';
import type { EncodedResponse } from '../types.js';
import type { XmlOperation, XmlRequest } from './decode.js';
import { objectElement, objectUrl, storedAttributes, type ObjectView } from './object-xml.js';
import { element, xmlDocument, type XmlElementNode } from './writer.js';

export const XML_RESPONSE_TYPE = 'application/xml; charset=utf-8';

/**
 * `<response status="success" identifier="...">` with one element per
 * operation, in request order: `<create index url ref/>`,
 * `<read index url ref><object .../></read>`, `<update index url ref/>`,
 * `<delete index ref/>`, or `<error index code><message>…</message></error>`.
 */
export function encodeXmlResponse(request: XmlRequest, results: readonly OperationResult[], baseUrl: string): EncodedResponse {
  const children = request.operations.map((op, index) => resultElement(op, index, results[index], baseUrl));
  const root = element('response', { status: 'success', identifier: request.identifier }, children);
  return { status: 200, headers: { 'content-type': XML_RESPONSE_TYPE }, body: xmlDocument(root) };
}

/** A refused batch: `<response status="error" identifier="..."><error code><message>…</message></error></response>`. */
export function encodeXmlError(error: ApiError, identifier: string): EncodedResponse {
  const root = element('response', { status: 'error', identifier }, [
    element('error', { code: error.code }, [element('message', {}, [error.message])]),
  ]);
  const headers: Record<string, string> = { ...error.headers, 'content-type': XML_RESPONSE_TYPE };
  if (error.status === 401) headers['www-authenticate'] = 'Bearer';
  return { status: error.status, headers, body: xmlDocument(root) };
}

function resultElement(op: XmlOperation, index: number, result: OperationResult | undefined, baseUrl: string): XmlElementNode {
  if (!result) return errorElement(index, 'internal', 'The operation has no result.');
  if (result.status >= 400) return failure(op, index, result);
  switch (op.kind) {
    case 'create': {
      const ref = String(bodyField(result, 'id') ?? '');
      return element('create', { index, url: objectUrl(baseUrl, ref), ref });
    }
    case 'read': {
      const view = readView(result, op.ref);
      return element('read', { index, url: objectUrl(baseUrl, op.ref), ref: op.ref }, [objectElement(view)]);
    }
    case 'update':
      return element('update', { index, url: objectUrl(baseUrl, op.ref), ref: op.ref });
    case 'delete':
      return element('delete', { index, ref: op.ref });
  }
}

/**
 * The problem's code and detail. Updates and deletes carry `If-Match: *`,
 * which fails (412) exactly when the object does not exist: that is reported
 * as `not_found`, like a read of a missing object.
 */
function failure(op: XmlOperation, index: number, result: OperationResult): XmlElementNode {
  const code = bodyField(result, 'code');
  const detail = bodyField(result, 'detail');
  const ref = op.kind === 'create' ? undefined : op.ref;
  const missing = result.status === 404 || (result.status === 412 && (op.kind === 'update' || op.kind === 'delete'));
  if (ref !== undefined && missing) return errorElement(index, 'not_found', `No object ${ref}`);
  return errorElement(
    index,
    typeof code === 'string' ? code : undefined,
    typeof detail === 'string' ? detail : result.text ?? `The operation failed with status ${result.status}.`,
    // An operation over the rate limit says when to come back, as HTTP's Retry-After would.
    result.headers['retry-after'],
  );
}

function errorElement(index: number, code: string | undefined, message: string, retryAfter?: string): XmlElementNode {
  return element('error', { index, code, 'retry-after': retryAfter }, [element('message', {}, [message])]);
}

function bodyField(result: OperationResult, name: string): unknown {
  const body = result.body;
  return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>)[name] : undefined;
}

/** The JSON view `GET /api/object/{ref}` answers a batch read with. */
function readView(result: OperationResult, ref: string): ObjectView {
  const body = (result.body ?? {}) as Record<string, unknown>;
  return {
    ref: typeof body['ref'] === 'string' ? body['ref'] : ref,
    created: typeof body['created'] === 'string' ? body['created'] : '',
    updated: typeof body['updated'] === 'string' ? body['updated'] : '',
    attributes: storedAttributes(body),
  };
}
