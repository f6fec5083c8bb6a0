/**
 * The common start of every server child of `npm run bench:peers`: reads what to serve from
 * the environment the parent set, starts, tells the parent its port over IPC, and stops when
 * the parent says so or goes away. A child writes nothing to stdout.
 */
import type { PeerStoreKind } from './resource.js';

export interface ChildSettings {
  /** `map`, `sqlite` (file path in `where`) or `postgres` (URL in `where`). */
  store: PeerStoreKind;
  where: string;
  /** Same syntax as OMNIBUS_TOKENS. */
  tokens: string;
  /** Request body limit in bytes (the bench raises every framework's default alike). */
  bodyLimit: number;
}

export function childSettings(): ChildSettings {
  const env = process.env;
  return {
    store: (env.PEER_STORE ?? 'map') as PeerStoreKind,
    where: env.PEER_WHERE ?? '',
    tokens: env.OMNIBUS_TOKENS ?? '',
    bodyLimit: Number(env.OMNIBUS_MAX_BATCH_BYTES ?? 10 * 1024 * 1024),
  };
}

export async function runChild(start: (s: ChildSettings) => Promise<{ port: number; close: () => Promise<void> }>): Promise<void> {
  const running = await start(childSettings());
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await running.close().catch(() => {});
    process.exit(0);
  };
  process.on('message', (m) => {
    if (m === 'stop') void stop();
  });
  process.on('disconnect', () => void stop());
  process.send!({ port: running.port });
}
