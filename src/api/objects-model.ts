import { z } from 'zod';

/**
 * Seed 003's objects: records of the `objects` collection whose body is an
 * ordered attribute list. The XML dialect maps `<a d q vt>` elements to these
 * one-to-one, so either form reads back losslessly through the other.
 */
export const OBJECTS_COLLECTION = 'objects';

export interface ObjectAttribute {
  d: string;
  q?: string;
  vt: number;
  value: string;
}

export interface ObjectBody {
  attributes: ObjectAttribute[];
}

const attributeSchema = z
  .object({
    d: z.string().min(1).max(256),
    q: z.string().max(256).optional(),
    vt: z.number().int().min(0).max(65535),
    value: z.string(),
  })
  .strict();

export const objectBodySchema = z.object({ attributes: z.array(attributeSchema) }).strict();

/** Returns a list of human-readable problems, empty when the body is a valid object. */
export function objectBodyProblems(body: unknown): string[] {
  const r = objectBodySchema.safeParse(body);
  if (r.success) return [];
  return r.error.issues.map((i) => `${i.path.length ? i.path.join('/') : '(body)'}: ${i.message}`);
}
