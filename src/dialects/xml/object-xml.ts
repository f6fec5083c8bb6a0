import type { ObjectAttribute } from '../../api/objects-model.js';
import { element, type XmlElementNode } from './writer.js';

/**
 * Seed 003's object XML form and its mapping to the `objects` collection's
 * JSON body, one `<a>` per attribute, in order:
 *
 *     <object ref="..." created="..." updated="...">
 *       <attributes>
 *         <a d="title" q="alternative" vt="16"><text>Nice book</text></a>
 *         <a d="pages" vt="3">12</a>
 *       </attributes>
 *     </object>
 *
 * For `vt` >= 16 the value sits in a `<text>` child, otherwise it is the text
 * of `<a>` itself. In JSON both are the string `value`.
 */

/** Value types from which on the value is written in a `<text>` child. */
export const TEXT_VALUE_TYPE = 16;

/** Where `GET /api/object/{ref}` lives, the `url` of batch results. */
export function objectPath(ref: string): string {
  return `/api/object/${encodeURIComponent(ref)}`;
}

export function objectUrl(baseUrl: string, ref: string): string {
  return `${baseUrl}${objectPath(ref)}`;
}

/** What the object route answers in JSON, and what a batch `read` turns into `<object>`. */
export interface ObjectView {
  ref: string;
  created: string;
  updated: string;
  attributes: ObjectAttribute[];
}

export function attributeElement(a: ObjectAttribute): XmlElementNode {
  const value = a.vt >= TEXT_VALUE_TYPE ? element('text', {}, [a.value]) : a.value;
  // An empty non-text value is written as <a .../>; it reads back as "".
  return element('a', { d: a.d, q: a.q, vt: a.vt }, value === '' ? [] : [value]);
}

export function objectElement(view: ObjectView): XmlElementNode {
  return element('object', { ref: view.ref, created: view.created, updated: view.updated }, [
    element('attributes', {}, view.attributes.map(attributeElement)),
  ]);
}

/** Reads the attribute list of a stored `objects` record, tolerating anything malformed by skipping it. */
export function storedAttributes(data: Record<string, unknown>): ObjectAttribute[] {
  const list = data['attributes'];
  if (!Array.isArray(list)) return [];
  const out: ObjectAttribute[] = [];
  for (const item of list) {
    if (item === null || typeof item !== 'object') continue;
    const { d, q, vt, value } = item as Record<string, unknown>;
    if (typeof d !== 'string' || typeof vt !== 'number' || typeof value !== 'string') continue;
    out.push(typeof q === 'string' ? { d, q, vt, value } : { d, vt, value });
  }
  return out;
}
