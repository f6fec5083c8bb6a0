import { describe, expect, it } from 'vitest';
import { enabledBackends, type BackendName } from './support/backends.js';
import { childDatabase, startChildServer, type ChildDatabase, type ChildServer } from './support/child-server.js';
import { MARKER_BATCHES, MARKER_DIALECTS, MARKERS, type MarkerBatch } from './support/marker-batches.js';
import { TOKENS } from './support/server.js';

/**
 * Atomicity and durability across crashes: `omnibus serve` runs as a child
 * process on a file database while clients send batches of atomic groups
 * in every dialect that has them, each group writing marker records; the
 * server is killed with SIGKILL at random moments and restarted each time.
 * Afterwards the database is sound (`PRAGMA integrity_check` on SQLite, the
 * object count against the records on both), every group has all of its
 * markers or none, and every group the client saw committed is all there.
 *
 * `OMNIBUS_CRASH_KILLS` kills per backend (default 4; `npm run test:crash`
 * uses 30); both backends run side by side.
 */

const KILLS = Number(process.env['OMNIBUS_CRASH_KILLS'] ?? 4);
const CLIENTS = 3;
const enabled = await enabledBackends();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

/** A batch of 1–3 groups of 2–8 markers each, in a random dialect (the single-group dialects take the first size). */
function randomBatch(): MarkerBatch {
  const sizes = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => 2 + Math.floor(Math.random() * 7));
  return MARKER_BATCHES[pick(MARKER_DIALECTS)]!(sizes);
}

interface Sent {
  batch: MarkerBatch;
  /** undefined: no answer (the server died under it, or was down). */
  committed?: string[];
}

interface CrashRun {
  kills: number;
  batches: number;
  answered: number;
  /** Batches whose connection the kill cut (sent, never answered). */
  cut: number;
  groupsPresent: number;
  groupsAbsent: number;
  /** Groups committed whose answer the kill cut off (present, though the client never heard). */
  presentUnanswered: number;
}

async function crashAndCheck(backend: BackendName): Promise<CrashRun> {
  const db = await childDatabase(backend, 'crash');
  // A long batch commit: ops outside groups would share one commit, so a kill can land inside a long transaction.
  const env = { ...db.env, OMNIBUS_BATCH_COMMIT_MS: '1000' };
  let node: ChildServer = startChildServer(env);
  let current = await node.url;
  let stopping = false;
  let down = false;
  let cut = 0;
  const sent: Sent[] = [];

  const client = async () => {
    while (!stopping) {
      if (down) {
        await sleep(20);
        continue;
      }
      const batch = randomBatch();
      const record: Sent = { batch };
      sent.push(record);
      let res: Response;
      try {
        res = await fetch(`${current}${batch.path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKENS.acme}`, 'content-type': batch.contentType },
          body: batch.body,
        });
        const text = await res.text();
        record.committed = batch.committed(res.status, res.headers.get('content-type'), text);
        // Valid batches on a running server commit every group: an answer that says otherwise is a failure.
        expect(record.committed.sort(), `${batch.dialect} answered ${res.status}: ${text.slice(0, 500)}`).toEqual(batch.groups.map((g) => g.id).sort());
      } catch (err) {
        if (err instanceof Error && err.name === 'AssertionError') throw err;
        // Refused: the server was already gone. Anything else: it died with the batch in flight.
        if ((err as { cause?: { code?: string } }).cause?.code !== 'ECONNREFUSED') cut++;
      }
    }
  };

  const killer = async () => {
    for (let k = 0; k < KILLS; k++) {
      await sleep(200 + Math.random() * 1000);
      node.child.kill('SIGKILL');
      down = true;
      await node.exited;
      node = startChildServer(env);
      current = await node.url;
      down = false;
    }
    await sleep(300); // some work on the last server too
    stopping = true;
  };

  try {
    const killing = killer();
    await Promise.all([killing, ...Array.from({ length: CLIENTS }, () => client())]).finally(() => (stopping = true));
    node.child.kill('SIGKILL');
    await node.exited;
    return { ...(await check(db, sent)), cut };
  } finally {
    stopping = true;
    node.child.kill('SIGKILL');
    await node.exited;
    await db.cleanup();
  }
}

/** The database after the last kill, read directly. */
async function check(db: ChildDatabase, sent: Sent[]): Promise<Omit<CrashRun, 'cut'>> {
  const sqlite = db.backend === 'sqlite';
  if (sqlite) expect(await db.query<{ integrity_check: string }>('PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
  const rows = await db.query<{ grp: string; n: number; ks: number }>(
    sqlite
      ? `SELECT json_extract(data, '$.group') AS grp, COUNT(*) AS n, COUNT(DISTINCT json_extract(data, '$.k')) AS ks
         FROM records WHERE tenant = 'acme' AND collection = '${MARKERS}' GROUP BY 1`
      : `SELECT data->>'group' AS grp, COUNT(*)::int AS n, COUNT(DISTINCT data->>'k')::int AS ks
         FROM records WHERE tenant = 'acme' AND collection = '${MARKERS}' GROUP BY 1`,
  );
  const stored = new Map(rows.map((r) => [r.grp, r]));
  const [usage] = await db.query<{ objects: number }>(
    `SELECT objects${sqlite ? '' : '::int AS objects'} FROM tenant_usage WHERE tenant = 'acme'`,
  );
  const [count] = await db.query<{ n: number }>(`SELECT COUNT(*)${sqlite ? '' : '::int'} AS n FROM records WHERE tenant = 'acme'`);
  // The object count is written in the same transactions as the records.
  expect(usage?.objects ?? 0).toBe(count!.n);

  let present = 0;
  let absent = 0;
  let presentUnanswered = 0;
  for (const { batch, committed } of sent) {
    for (const g of batch.groups) {
      const row = stored.get(g.id);
      stored.delete(g.id);
      const what = `${batch.dialect} group ${g.id} of ${g.size} (${committed === undefined ? 'unanswered' : 'answered committed'})`;
      if (row) {
        expect({ n: row.n, ks: row.ks }, what).toEqual({ n: g.size, ks: g.size });
        present++;
        if (committed === undefined) presentUnanswered++;
      } else {
        // Durability: an answer is sent only once its effects are committed.
        expect(committed, what).toBeUndefined();
        absent++;
      }
    }
  }
  expect([...stored.keys()], 'markers of groups no client sent').toEqual([]);
  const answered = sent.filter((s) => s.committed !== undefined).length;
  return { kills: KILLS, batches: sent.length, answered, groupsPresent: present, groupsAbsent: absent, presentUnanswered };
}

describe('crash atomicity (kill -9 at random moments)', () => {
  it(`after ${KILLS} kills every atomic group is all there or not at all, and every committed answer is durable, on ${enabled.map((b) => b.name).join(' and ')}`, async () => {
    const results = await Promise.all(enabled.map(async (b) => ({ backend: b.name, ...(await crashAndCheck(b.name)) })));
    console.log('crash atomicity:', JSON.stringify(results));
    for (const r of results) {
      expect(r.answered, `${r.backend}: batches answered`).toBeGreaterThan(KILLS);
      // Kills did land on batches in flight (the checks above covered them).
      expect(r.cut, `${r.backend}: batches the kills cut off`).toBeGreaterThan(0);
    }
  }, 60_000 + KILLS * 10_000);
});
