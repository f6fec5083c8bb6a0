import { OmnibusError } from './errors.js';
import type { ExecContext, OpOutcome } from './execute.js';
import type { PlannedOp } from './plan.js';
import { sendHttp } from './transport.js';
import { isTextBody, parseBody } from './wire.js';

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** One operation as a plain HTTP request (no batch); a write carries `key` as its Idempotency-Key. */
export async function sendSingle(ctx: ExecContext, op: PlannedOp, key: string | undefined, signal?: AbortSignal): Promise<OpOutcome> {
  const headers = { ...op.headers };
  let body: string | undefined;
  if (op.body !== undefined) {
    if (isTextBody(op.body, headers)) body = op.body;
    else {
      body = JSON.stringify(op.body);
      headers['content-type'] ??= 'application/json';
    }
  }
  try {
    const answer = await sendHttp(ctx.transport, {
      method: op.method,
      url: ctx.baseUrl + op.path,
      headers,
      body,
      idempotencyKey: WRITES.has(op.method) ? key : undefined,
      operations: 1,
      signal,
    });
    return { status: answer.status, headers: answer.headers, body: op.method === 'HEAD' ? null : parseBody(answer.text, answer.headers['content-type']) };
  } catch (err) {
    if (err instanceof OmnibusError) return err;
    throw err;
  }
}
