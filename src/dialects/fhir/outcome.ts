import { STATUS_CODES } from 'node:http';
import type { OperationResult } from '../../engine/types.js';
import { PROBLEM_CONTENT_TYPE } from '../../errors.js';

/** Where an OperationOutcome's `details` name the Omnibus problem code. */
export const PROBLEM_SYSTEM = 'https://omnibus.dev/problems';

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: OutcomeIssue[];
}

export interface OutcomeIssue {
  severity: 'error';
  code: string;
  diagnostics: string;
  details: { coding: { system: string; code: string }[] };
  expression?: string[];
}

/** The FHIR issue type (`OperationOutcome.issue.code`) for an Omnibus problem code and status. */
export function issueType(code: string, status: number): string {
  switch (code) {
    case 'not_found':
      return 'not-found';
    case 'precondition_failed':
    case 'conflict':
      return 'conflict';
    case 'forbidden':
      return 'forbidden';
    case 'unauthorized':
      return 'login';
    case 'batch_too_large':
    case 'body_too_large':
      return 'too-costly';
    case 'unsupported_media_type':
      return 'not-supported';
    case 'rate_limited':
      return 'throttled';
    case 'deadline_exceeded':
      return 'timeout';
  }
  return status >= 500 ? 'exception' : 'invalid';
}

/** One OperationOutcome with one error issue; `entry` points `expression` at `Bundle.entry[entry]`. */
export function operationOutcome(code: string, status: number, diagnostics: string, entry?: number): OperationOutcome {
  const issue: OutcomeIssue = {
    severity: 'error',
    code: issueType(code, status),
    diagnostics,
    details: { coding: [{ system: PROBLEM_SYSTEM, code }] },
  };
  if (entry !== undefined) issue.expression = [`Bundle.entry[${entry}]`];
  return { resourceType: 'OperationOutcome', issue: [issue] };
}

/** Problem codes by status, for an error answer that carries no problem (another app's route). */
const CODE_OF_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  412: 'precondition_failed',
  413: 'body_too_large',
  415: 'unsupported_media_type',
  422: 'validation_failed',
  428: 'precondition_required',
  429: 'rate_limited',
  504: 'deadline_exceeded',
};

/** The problem code and detail of a failed operation's answer. */
export function problemOf(r: OperationResult): { code: string; detail: string } {
  const body = r.body;
  const type = r.headers['content-type']?.split(';')[0]!.trim().toLowerCase();
  if (type === PROBLEM_CONTENT_TYPE && body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const p = body as Record<string, unknown>;
    const code = typeof p['code'] === 'string' ? p['code'] : (CODE_OF_STATUS[r.status] ?? (r.status >= 500 ? 'internal' : 'bad_request'));
    const detail = typeof p['detail'] === 'string' ? p['detail'] : typeof p['title'] === 'string' ? p['title'] : statusLine(r.status);
    return { code, detail };
  }
  return { code: CODE_OF_STATUS[r.status] ?? (r.status >= 500 ? 'internal' : 'bad_request'), detail: `The operation answered ${statusLine(r.status)}.` };
}

/** `201 Created`, `404 Not Found`: the `response.status` of a Bundle entry. */
export function statusLine(status: number): string {
  let line = statusLines.get(status);
  if (line === undefined) {
    const reason = STATUS_CODES[status];
    line = reason ? `${status} ${reason}` : String(status);
    statusLines.set(status, line);
  }
  return line;
}

const statusLines = new Map<number, string>();
