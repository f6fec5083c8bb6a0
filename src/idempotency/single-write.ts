import type { ApiRequest, ApiResponse } from '../api/types.js';
import type { Dispatcher, TransactionRunner } from '../engine/types.js';
import { keepsAnswer, type KeyAttempt, type LiveResponse } from './guard.js';

/** A write that failed on the server's side: its transaction is rolled back and its answer is not kept. */
class NotKept extends Error {
  constructor(readonly live: LiveResponse) {
    super('not kept');
  }
}

/**
 * A single keyed write (POST/PUT/PATCH/DELETE of the resource API): the
 * route runs inside one store transaction and the key is written with its
 * response in that same transaction, so after a crash the write and its key
 * are both there or both not. A 5xx rolls the transaction back (nothing of
 * it stays, nothing is kept).
 */
export async function runKeyedWrite(transactions: TransactionRunner, dispatch: Dispatcher, req: ApiRequest, attempt: KeyAttempt): Promise<LiveResponse> {
  let wrote = false;
  try {
    const live = await transactions.transaction(async () => {
      wrote = false; // the store may run this again from the start (a deadlock was broken)
      const res = await dispatch(req);
      const answer = liveResponse(res);
      if (res.status >= 500) throw new NotKept(answer);
      if (keepsAnswer(res.status)) {
        await attempt.record(answer);
        wrote = true;
      }
      return answer;
    });
    if (wrote) attempt.committed();
    return live;
  } catch (err) {
    if (err instanceof NotKept) return err.live;
    throw err;
  }
}

/** The response as the HTTP adapter sends it (web.ts `toWebResponse`): JSON or text, no body for 204 and 304. */
export function liveResponse(res: ApiResponse): LiveResponse {
  let body = '';
  if (res.status !== 204 && res.status !== 304) body = res.text ?? (res.body !== undefined ? JSON.stringify(res.body) : '');
  return { status: res.status, headers: res.headers, body };
}
