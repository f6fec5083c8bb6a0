import { Ajv, type ValidateFunction } from 'ajv';
import type { CollectionConfig } from '../config.js';
import { ApiError } from '../errors.js';
import { objectBodyProblems, OBJECTS_COLLECTION } from './objects-model.js';

const SEGMENT = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
/** Names that would shadow the batch endpoints under /v1. */
const RESERVED = new Set(['batch', '$batch']);

export interface ResolvedTarget {
  collection: string;
  id?: string;
}

/**
 * Knows which collections exist: configured ones (possibly multi-segment, with
 * an optional JSON Schema) and, when open, any single-segment name.
 */
export class CollectionRegistry {
  private readonly known = new Map<string, ValidateFunction | null>();
  /** First segments of configured multi-segment names (`time` of `time/projects`): namespaces, not collections. */
  private readonly namespaces = new Set<string>();
  private readonly open: boolean;

  constructor(collections: CollectionConfig[], open: boolean) {
    this.open = open;
    const ajv = new Ajv({ allErrors: true, strict: false });
    for (const c of collections) {
      this.known.set(c.name, c.schema ? ajv.compile(c.schema) : null);
      if (c.name.includes('/')) this.namespaces.add(c.name.split('/')[0]!);
    }
  }

  /** Maps decoded path segments after `/v1/` to a collection and optional id. */
  resolve(segments: string[]): ResolvedTarget {
    const whole = segments.join('/');
    if (this.isCollection(whole, segments.length)) return { collection: whole };
    if (segments.length >= 2) {
      const collection = segments.slice(0, -1).join('/');
      if (this.isCollection(collection, segments.length - 1)) return { collection, id: segments[segments.length - 1]! };
    }
    throw new ApiError(404, 'not_found', `No collection at /v1/${whole}.`);
  }

  private isCollection(name: string, segmentCount: number): boolean {
    if (this.known.has(name)) return true;
    return (
      this.open && segmentCount === 1 && SEGMENT.test(name) && !RESERVED.has(name) && !this.namespaces.has(name)
    );
  }

  /** Throws 422 `validation_failed` when the record body breaks the collection's rules. */
  validate(collection: string, body: Record<string, unknown>): void {
    const problems: string[] = [];
    if (collection === OBJECTS_COLLECTION) problems.push(...objectBodyProblems(body));
    const schema = this.known.get(collection);
    if (schema && !schema(body)) {
      for (const e of schema.errors ?? []) problems.push(`${e.instancePath || '(body)'}: ${e.message ?? 'invalid'}`);
    }
    if (problems.length > 0) {
      throw new ApiError(422, 'validation_failed', `The record does not satisfy the ${collection} schema.`, {
        errors: problems,
      });
    }
  }
}
