import type { ObjectAttribute } from '../../api/objects-model.js';
import { OBJECTS_COLLECTION } from '../../api/objects-model.js';
import type { Batch, Operation } from '../../engine/types.js';
import { tooManyOperations } from '../../engine/validate.js';
import { ApiError } from '../../errors.js';
import { objectPath } from './object-xml.js';
import { readXml, type XmlHandlers } from './parser.js';

/** One operation of a seed 003 request, as read from the XML. */
export type XmlOperation =
  | { kind: 'create'; attributes: ObjectAttribute[] }
  | { kind: 'read'; ref: string }
  | { kind: 'update'; ref: string; attributes: ObjectAttribute[]; includedAttrs?: string[] }
  | { kind: 'delete'; ref: string };

export interface XmlRequest {
  identifier: string;
  operations: XmlOperation[];
}

export const XML_MEDIA_TYPES = ['text/xml', 'application/xml'] as const;

/**
 * 415 unless the type is `text/xml` or `application/xml` with no charset or
 * `charset=utf-8` (any case, quoted or not).
 */
export function checkXmlContentType(contentType: string | undefined): void {
  const [type = '', ...params] = (contentType ?? '').split(';');
  const media = type.trim().toLowerCase();
  if (!(XML_MEDIA_TYPES as readonly string[]).includes(media)) {
    throw new ApiError(415, 'unsupported_media_type', `The XML batch takes text/xml or application/xml, not ${media || 'a body without Content-Type'}.`);
  }
  for (const param of params) {
    const eq = param.indexOf('=');
    const name = (eq < 0 ? param : param.slice(0, eq)).trim().toLowerCase();
    if (name !== 'charset') continue;
    const value = (eq < 0 ? '' : param.slice(eq + 1)).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    if (value !== 'utf-8') {
      throw new ApiError(415, 'unsupported_media_type', `The XML batch must be UTF-8, not charset=${value.slice(0, 40) || '(empty)'}.`);
    }
  }
}

const badRequest = (detail: string) => new ApiError(400, 'bad_request', detail);

type OpKind = XmlOperation['kind'];
const OP_KINDS: ReadonlySet<string> = new Set<OpKind>(['create', 'read', 'update', 'delete']);

interface OpDraft {
  kind: OpKind;
  index: number;
  ref?: string;
  sawObject: boolean;
  sawAttributes: boolean;
  includedAttrs?: string[];
  attributes: ObjectAttribute[];
}

interface AttrDraft {
  d: string;
  q?: string;
  vt: number;
  /** Character data directly inside `<a>`. */
  direct: string[];
  /** Character data inside its `<text>` child, when it has one. */
  text?: string[];
}

type Frame =
  | { type: 'request' }
  | { type: 'operations' }
  | { type: 'op'; op: OpDraft }
  | { type: 'object'; op: OpDraft }
  | { type: 'attributes'; op: OpDraft }
  | { type: 'a'; op: OpDraft; attr: AttrDraft }
  | { type: 'text'; attr: AttrDraft };

/**
 * Reads the request document while it is parsed, refusing the first thing
 * out of place, so a wrong document costs no more than its first bad element:
 *
 *     <request identifier="..."><operations>
 *       <create><object><attributes><a d q? vt>…</a>…</attributes></object></create>
 *       <read ref="..."/>
 *       <update ref="..."><object><attributes included_attrs?>…</attributes></object></update>
 *       <delete ref="..."/>
 *     </operations></request>
 */
class RequestReader implements XmlHandlers {
  identifier: string | undefined;
  sawOperations = false;
  readonly operations: XmlOperation[] = [];
  private readonly stack: Frame[] = [];
  private count = 0;

  constructor(private readonly maxOperations: number) {}

  openElement(name: string, attrs: Readonly<Record<string, string>>): void {
    const top = this.stack[this.stack.length - 1];
    if (!top) {
      if (name !== 'request') throw badRequest(`The root element must be <request>, not <${name}>.`);
      const identifier = attrs['identifier'];
      if (identifier === undefined || identifier.trim() === '') throw badRequest('<request> needs a non-empty identifier attribute.');
      this.identifier = identifier;
      this.stack.push({ type: 'request' });
      return;
    }
    switch (top.type) {
      case 'request':
        if (name !== 'operations') throw badRequest(`Unknown element <${name}> in <request>; expected <operations>.`);
        if (this.sawOperations) throw badRequest('A request has one <operations> element.');
        this.sawOperations = true;
        this.stack.push({ type: 'operations' });
        return;
      case 'operations': {
        if (!OP_KINDS.has(name)) throw badRequest(`Unknown operation <${name}>; expected create, read, update or delete.`);
        this.count++;
        if (this.count > this.maxOperations) throw tooManyOperations(this.maxOperations, this.count);
        const op: OpDraft = { kind: name as OpKind, index: this.count - 1, sawObject: false, sawAttributes: false, attributes: [] };
        if (op.kind !== 'create') {
          const ref = attrs['ref'];
          if (ref === undefined || ref === '') throw badRequest(`Operation ${op.index} (<${name}>) needs a non-empty ref attribute.`);
          op.ref = ref;
        }
        this.stack.push({ type: 'op', op });
        return;
      }
      case 'op': {
        const { op } = top;
        if (op.kind === 'read' || op.kind === 'delete') throw badRequest(`Operation ${op.index} (<${op.kind}>) takes no child elements.`);
        if (name !== 'object') throw badRequest(`Unknown element <${name}> in <${op.kind}>; expected <object>.`);
        if (op.sawObject) throw badRequest(`Operation ${op.index} has more than one <object>.`);
        op.sawObject = true;
        this.stack.push({ type: 'object', op });
        return;
      }
      case 'object': {
        const { op } = top;
        if (name !== 'attributes') throw badRequest(`Unknown element <${name}> in <object>; expected <attributes>.`);
        if (op.sawAttributes) throw badRequest(`Operation ${op.index} has more than one <attributes>.`);
        op.sawAttributes = true;
        const included = attrs['included_attrs'];
        if (included !== undefined && op.kind === 'update') {
          op.includedAttrs = included
            .split(',')
            .map((d) => d.trim())
            .filter((d) => d !== '');
        }
        this.stack.push({ type: 'attributes', op });
        return;
      }
      case 'attributes': {
        const { op } = top;
        if (name !== 'a') throw badRequest(`Unknown element <${name}> in <attributes>; expected <a>.`);
        this.stack.push({ type: 'a', op, attr: readAttr(attrs, op) });
        return;
      }
      case 'a': {
        const { attr, op } = top;
        if (name !== 'text') throw badRequest(`Unknown element <${name}> in <a d="${attr.d}"> of operation ${op.index}; expected <text>.`);
        if (attr.text) throw badRequest(`<a d="${attr.d}"> of operation ${op.index} has more than one <text>.`);
        attr.text = [];
        this.stack.push({ type: 'text', attr });
        return;
      }
      case 'text':
        throw badRequest(`<text> holds text only, not <${name}>.`);
    }
  }

  closeElement(): void {
    const frame = this.stack.pop();
    if (!frame) return;
    if (frame.type === 'a') frame.op.attributes.push(finishAttr(frame.attr, frame.op));
    else if (frame.type === 'op') this.operations.push(finishOp(frame.op));
    else if (frame.type === 'request' && !this.sawOperations) throw badRequest('<request> needs an <operations> element.');
  }

  text(value: string): void {
    const top = this.stack[this.stack.length - 1];
    if (top?.type === 'text') top.attr.text!.push(value);
    else if (top?.type === 'a') top.attr.direct.push(value);
    else if (top && value.trim() !== '') throw badRequest(`Unexpected text in <${elementOf(top)}>.`);
  }
}

function elementOf(frame: Frame): string {
  return frame.type === 'op' ? frame.op.kind : frame.type;
}

function readAttr(attrs: Readonly<Record<string, string>>, op: OpDraft): AttrDraft {
  const d = attrs['d'];
  if (d === undefined || d === '') throw badRequest(`An <a> of operation ${op.index} needs a non-empty d attribute.`);
  const vtText = attrs['vt'];
  if (vtText === undefined || !/^\s*\d{1,9}\s*$/.test(vtText)) {
    throw badRequest(`<a d="${d.slice(0, 64)}"> of operation ${op.index} needs an integer vt attribute.`);
  }
  const attr: AttrDraft = { d, vt: Number(vtText.trim()), direct: [] };
  const q = attrs['q'];
  if (q !== undefined) attr.q = q;
  return attr;
}

/**
 * The value: the content of `<text>` when there is one (the form for vt >= 16;
 * the text around it may only be layout whitespace), otherwise the text of
 * `<a>` itself, exactly as written.
 */
function finishAttr(attr: AttrDraft, op: OpDraft): ObjectAttribute {
  const direct = attr.direct.join('');
  let value: string;
  if (attr.text) {
    if (direct.trim() !== '') throw badRequest(`<a d="${attr.d.slice(0, 64)}"> of operation ${op.index} has text beside its <text>.`);
    value = attr.text.join('');
  } else {
    value = direct;
  }
  return attr.q !== undefined ? { d: attr.d, q: attr.q, vt: attr.vt, value } : { d: attr.d, vt: attr.vt, value };
}

function finishOp(op: OpDraft): XmlOperation {
  switch (op.kind) {
    case 'create':
      if (!op.sawObject) throw badRequest(`Operation ${op.index} (<create>) needs an <object>.`);
      return { kind: 'create', attributes: op.attributes };
    case 'update':
      if (!op.sawObject) throw badRequest(`Operation ${op.index} (<update>) needs an <object>.`);
      return op.includedAttrs !== undefined
        ? { kind: 'update', ref: op.ref!, attributes: op.attributes, includedAttrs: op.includedAttrs }
        : { kind: 'update', ref: op.ref!, attributes: op.attributes };
    case 'read':
      return { kind: 'read', ref: op.ref! };
    case 'delete':
      return { kind: 'delete', ref: op.ref! };
  }
}

/** Parses and checks a whole request document (400 `invalid_xml` / `bad_request`, 413 `batch_too_large`). */
export function parseXmlRequest(text: string, maxOperations: number): XmlRequest {
  const reader = new RequestReader(maxOperations);
  readXml(text, reader);
  if (reader.identifier === undefined) throw badRequest('The document has no <request> element.');
  return { identifier: reader.identifier, operations: reader.operations };
}

/** Seed 003 has no preconditions: updates and deletes are unconditional, and say so, so `requireIfMatch` lets them through. */
const UNCONDITIONAL = { 'If-Match': '*' } as const;

function recordPath(ref: string): string {
  return `/v1/${OBJECTS_COLLECTION}/${encodeURIComponent(ref)}`;
}

/**
 * Each XML operation as one API operation:
 * create → `POST /v1/objects`; read → `GET /api/object/{ref}` asking for JSON
 * (the object with its created/updated times); update → `PUT /v1/objects/{ref}`,
 * or with `included_attrs` → `PATCH /api/object/{ref}` (remove listed, then
 * append, compare-and-set); delete → `DELETE /v1/objects/{ref}`.
 */
export function toOperation(op: XmlOperation, index: number): Operation {
  switch (op.kind) {
    case 'create':
      return { index, method: 'POST', path: `/v1/${OBJECTS_COLLECTION}`, headers: {}, body: { kind: 'json', value: { attributes: op.attributes } } };
    case 'read':
      return { index, method: 'GET', path: objectPath(op.ref), headers: { Accept: 'application/json' }, body: { kind: 'none' } };
    case 'update':
      if (op.includedAttrs !== undefined) {
        return {
          index,
          method: 'PATCH',
          path: objectPath(op.ref),
          headers: { ...UNCONDITIONAL },
          body: { kind: 'json', value: { includedAttrs: op.includedAttrs, attributes: op.attributes } },
        };
      }
      return { index, method: 'PUT', path: recordPath(op.ref), headers: { ...UNCONDITIONAL }, body: { kind: 'json', value: { attributes: op.attributes } } };
    case 'delete':
      return { index, method: 'DELETE', path: recordPath(op.ref), headers: { ...UNCONDITIONAL }, body: { kind: 'none' } };
  }
}

export function toBatch(request: XmlRequest): Batch {
  return { operations: request.operations.map(toOperation) };
}
