import type { CollectionRegistry } from '../api/collections.js';
import { decodePathSegments } from '../paths.js';

/**
 * Route templates: what a metric's `route` label says instead of the path,
 * so that ids and collection names (open collections are any name a client
 * writes) never become label values. Every function here returns one of a
 * small, fixed set of strings.
 */

/** The label for a path no route serves (or one that is not a valid path). */
export const OTHER_ROUTE = 'other';

/**
 * The template of a resource API path: `/v1/{collection}` or
 * `/v1/{collection}/{id}` (multi-segment collections and key predicates
 * resolved as the router resolves them), `/api/object/{ref}`, else `other`.
 */
export function resourceRouteTemplate(path: string, collections: CollectionRegistry): string {
  let segments: string[];
  try {
    segments = decodePathSegments(path);
  } catch {
    return OTHER_ROUTE;
  }
  if (segments[0] === 'v1' && segments.length >= 2) {
    try {
      return collections.resolve(segments.slice(1)).id === undefined ? '/v1/{collection}' : '/v1/{collection}/{id}';
    } catch {
      return OTHER_ROUTE;
    }
  }
  if (segments.length === 3 && segments[0] === 'api' && segments[1] === 'object') return '/api/object/{ref}';
  return OTHER_ROUTE;
}

/** A Hono route pattern as a template: `:version{v[0-9]+\.[0-9]+}` and `:id` become `{version}` and `{id}`. */
export function honoPatternTemplate(pattern: string): string {
  return pattern.replace(/:([A-Za-z0-9_]+)(\{(?:[^{}]|\{[^{}]*\})*\})?/g, '{$1}');
}

/**
 * Matches request paths against an app's own routes (Hono patterns, in the
 * order registered), for the routes outside the resource API: `/healthz`,
 * `/metrics`, `/admin/tokens/{id}`, the batch endpoints. Catch-all routes
 * (`*`) are left out: those paths go to `resourceRouteTemplate`.
 */
export class RouteMatcher {
  private readonly routes: Array<{ test: RegExp; template: string }> = [];

  constructor(patterns: Iterable<string>) {
    const seen = new Set<string>();
    for (const pattern of patterns) {
      if (pattern === '*' || pattern === '/*' || seen.has(pattern)) continue;
      seen.add(pattern);
      this.routes.push({ test: patternRegExp(pattern), template: honoPatternTemplate(pattern) });
    }
  }

  match(path: string): string | undefined {
    for (const r of this.routes) if (r.test.test(path)) return r.template;
    return undefined;
  }
}

function patternRegExp(pattern: string): RegExp {
  let source = '';
  const re = /:([A-Za-z0-9_]+)(?:\{((?:[^{}]|\{[^{}]*\})*)\})?|\*/g;
  let last = 0;
  for (const m of pattern.matchAll(re)) {
    source += escapeRegExp(pattern.slice(last, m.index));
    source += m[0] === '*' ? '.*' : m[2] !== undefined ? `(?:${m[2]})` : '[^/]+';
    last = m.index + m[0].length;
  }
  source += escapeRegExp(pattern.slice(last));
  return new RegExp(`^${source}$`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The method as a label: the methods HTTP clients use, else `OTHER` (a client may send any token as a method). */
export function methodLabel(method: string): string {
  const m = method.toUpperCase();
  return METHODS.has(m) ? m : 'OTHER';
}

/** `2xx`, `4xx`, ... */
export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}
