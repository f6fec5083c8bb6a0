import type { BodyReference } from '../../engine/types.js';
import { ApiError } from '../../errors.js';

/**
 * A Composite reference, `@{refId.path}`: the value at `select` in the
 * response body of the earlier subrequest `refId` (`@{acct.id}`,
 * `@{list.items[0].id}`).
 */
export interface CompositeReference {
  refId: string;
  select: (string | number)[];
  /** As the client wrote it, for messages. */
  written: string;
}

/** Text with references in it, in order. */
export type Template = (string | CompositeReference)[];

const REFERENCE_ID = /^[A-Za-z0-9][A-Za-z0-9_]*$/;

/**
 * One reference starting at `@{`: a referenceId, then one or more steps,
 * `.name` (any characters but `.`, `[`, `]`, `{`, `}` and white space) or
 * `[n]`, then `}`.
 */
const REFERENCE = /@\{([A-Za-z0-9][A-Za-z0-9_]*)((?:\.[^.[\]{}\s]+|\[[0-9]{1,9}\])+)\}/y;
const STEP = /\.([^.[\]{}\s]+)|\[([0-9]{1,9})\]/g;

export function isReferenceId(id: string): boolean {
  return REFERENCE_ID.test(id);
}

/**
 * The references in a string, with the text between them; undefined when it
 * has none. There is no escape for `@{`: every one must begin a well-formed
 * reference, else 400 `bad_request` (`where` names the place).
 */
export function parseTemplate(text: string, where: string): Template | undefined {
  let at = text.indexOf('@{');
  if (at < 0) return undefined;
  const parts: Template = [];
  let from = 0;
  while (at >= 0) {
    REFERENCE.lastIndex = at;
    const m = REFERENCE.exec(text);
    if (!m) throw malformed(text.slice(at), where);
    if (at > from) parts.push(text.slice(from, at));
    const select: (string | number)[] = [];
    for (const step of m[2]!.matchAll(STEP)) select.push(step[1] !== undefined ? step[1] : Number(step[2]));
    parts.push({ refId: m[1]!, select, written: m[0] });
    from = REFERENCE.lastIndex;
    at = text.indexOf('@{', from);
  }
  if (from < text.length) parts.push(text.slice(from));
  return parts;
}

function malformed(rest: string, where: string): ApiError {
  const shown = rest.length > 60 ? `${rest.slice(0, 60)}…` : rest;
  return new ApiError(
    400,
    'bad_request',
    `${where}: ${JSON.stringify(shown)} is not a reference; write @{referenceId.field}, with .name and [n] steps (@{acct.id}, @{list.items[0].id}).`,
  );
}

/** A template's references. */
export function referencesOf(template: Template): CompositeReference[] {
  return template.filter((p): p is CompositeReference => typeof p !== 'string');
}

/**
 * The strings of a JSON body, at any depth (values only, never member
 * names), that hold references: where each is and what it is made of, with
 * the template as parsed. Walked without recursion, so no nesting depth can
 * exhaust the stack.
 */
export function bodyTemplates(body: unknown, where: string): { at: (string | number)[]; template: Template }[] {
  const found: { at: (string | number)[]; template: Template }[] = [];
  // Each value with the chain of keys that leads to it (shared by siblings, so a wide or deep body costs no copies).
  const stack: { value: unknown; key?: Step }[] = [{ value: body }];
  while (stack.length > 0) {
    const { value, key } = stack.pop()!;
    if (typeof value === 'string') {
      const template = parseTemplate(value, where);
      if (!template) continue;
      const at: (string | number)[] = [];
      for (let k = key; k; k = k.parent) at.push(k.name);
      at.reverse();
      if (at.includes('__proto__')) throw new ApiError(400, 'bad_request', `${where}: a reference may not stand in a member named __proto__.`);
      found.push({ at, template });
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], key: { name: i, parent: key } });
    } else if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value);
      for (let i = entries.length - 1; i >= 0; i--) stack.push({ value: entries[i]![1], key: { name: entries[i]![0], parent: key } });
    }
  }
  return found;
}

interface Step {
  name: string | number;
  parent: Step | undefined;
}

/** A body template as the engine resolves it: text and values of earlier answers. */
export function bodyReference(at: (string | number)[], template: Template): BodyReference {
  return { at, parts: template.map((p) => (typeof p === 'string' ? p : { id: p.refId, select: p.select })) };
}
