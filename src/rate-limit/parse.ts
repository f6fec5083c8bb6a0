/** A rate limit: `limit` requests per `windowS` seconds (OMNIBUS_RATE_LIMIT, e.g. `600/60s`). */
export interface RateLimit {
  limit: number;
  windowS: number;
}

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/**
 * `N/Ws` (`600/60s`): N requests per W seconds; `m` and `h` windows too
 * (`600/1m`, `10000/1h`), and a window of one may leave out its number
 * (`10/s`). Undefined for a text that is none of these.
 */
export function parseRateLimit(text: string): RateLimit | undefined {
  const m = /^\s*(\d+)\s*\/\s*(\d+(?:\.\d+)?)?\s*(ms|s|m|h)\s*$/i.exec(text);
  if (!m) return undefined;
  const limit = Number(m[1]);
  const windowS = Number(m[2] ?? '1') * UNITS[m[3]!.toLowerCase()]!;
  if (!Number.isSafeInteger(limit) || limit < 1 || !(windowS > 0)) return undefined;
  return { limit, windowS };
}

/** The limit as the operator wrote it, for messages: `600/60s`. */
export function formatRateLimit(limit: RateLimit): string {
  return `${limit.limit}/${+limit.windowS.toFixed(3)}s`;
}
