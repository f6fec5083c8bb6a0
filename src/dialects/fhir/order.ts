import { ApiError } from '../../errors.js';

/** FHIR's processing order (R4 §3.1.0.11.2): deletes, then creates, then updates, then reads. */
const RANK: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

/**
 * The order in which a Bundle's entries run, as entry indices: DELETE, then
 * POST, then PUT/PATCH, then GET/HEAD, each in array order, except that a
 * POST runs after the POSTs whose records it refers to (their ids are
 * assigned when they run). `postsReferenced[i]` lists the entries entry `i`
 * refers to; a cycle among POSTs is 400 `invalid_dependency`.
 */
export function processingOrder(methods: readonly string[], postsReferenced: ReadonlyMap<number, ReadonlySet<number>>): number[] {
  const byRank: number[][] = [[], [], [], []];
  methods.forEach((m, i) => byRank[RANK[m]!]!.push(i));
  return [...byRank[0]!, ...orderPosts(byRank[1]!, postsReferenced), ...byRank[2]!, ...byRank[3]!];
}

/** POSTs in array order, each moved after the POSTs it refers to (Kahn's algorithm, the earliest ready first). */
function orderPosts(posts: number[], refs: ReadonlyMap<number, ReadonlySet<number>>): number[] {
  const isPost = new Set(posts);
  const waiting = new Map<number, number>();
  const dependents = new Map<number, number[]>();
  for (const p of posts) {
    const deps = [...(refs.get(p) ?? [])].filter((d) => isPost.has(d));
    waiting.set(p, deps.length);
    for (const d of deps) {
      if (d === p) throw cycle([p]);
      const list = dependents.get(d) ?? [];
      list.push(p);
      dependents.set(d, list);
    }
  }
  const ready = posts.filter((p) => waiting.get(p) === 0);
  const order: number[] = [];
  while (ready.length > 0) {
    const next = ready.shift()!;
    order.push(next);
    for (const d of dependents.get(next) ?? []) {
      const left = waiting.get(d)! - 1;
      waiting.set(d, left);
      if (left === 0) {
        let i = ready.length;
        while (i > 0 && ready[i - 1]! > d) i--;
        ready.splice(i, 0, d);
      }
    }
  }
  if (order.length < posts.length) throw cycle(posts.filter((p) => waiting.get(p)! > 0));
  return order;
}

function cycle(entries: number[]): ApiError {
  if (entries.length === 1) {
    return new ApiError(400, 'invalid_dependency', `Bundle.entry[${entries[0]}] is a POST that refers to its own fullUrl; its id is assigned only when it is created.`);
  }
  const names = entries.map((e) => `Bundle.entry[${e}]`).join(', ');
  return new ApiError(
    400,
    'invalid_dependency',
    `The POST entries ${names} refer to each other's fullUrl in a cycle; each needs the other's id, which is assigned only when it is created.`,
  );
}
