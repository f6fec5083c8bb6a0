import { SaxesParser } from 'saxes';
import { ApiError } from '../../errors.js';

/**
 * A hardened, streaming XML reader on top of saxes (a strict,
 * well-formedness-checking SAX parser).
 *
 * Before any parsing, the raw text is refused when it declares a document
 * type or an entity anywhere (`<!DOCTYPE`, `<!ENTITY`): no DTD is ever read,
 * so there is no external entity to fetch (XXE) and no entity to expand
 * (billion laughs). saxes itself never resolves anything beyond the five
 * predefined entities and character references; any other reference is a
 * well-formedness error. The document must start with the XML declaration
 * `<?xml version="1.0" encoding="UTF-8"?>` (either quote style, encoding in
 * any case; `standalone` allowed), must have exactly one root element, holds
 * no processing instruction, and is parsed to its end so that anything not
 * well-formed is refused.
 */

/** Callbacks of a streaming reader. Throw an ApiError from them to refuse the document. */
export interface XmlHandlers {
  openElement(name: string, attributes: Readonly<Record<string, string>>, depth: number): void;
  closeElement(name: string, depth: number): void;
  /** Character data (text and CDATA), already unescaped, in document order. */
  text(value: string): void;
}

export const MAX_DEPTH = 32;

const DECLARATION =
  /^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])1\.0\1[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(["'])utf-8\2([ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(["'])(yes|no)\4)?[ \t\r\n]*\?>/i;

const FORBIDDEN_DECLARATIONS = /<!(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)/i;

export function invalidXml(detail: string): ApiError {
  return new ApiError(400, 'invalid_xml', detail);
}

/** Removes a leading byte order mark, which XML allows before the declaration. */
function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Refuses DTDs and entity declarations, and a document that does not begin with the declaration. */
export function precheckXml(text: string): string {
  const body = withoutBom(text);
  // First, before anything else looks at the document: no DTD of any kind.
  if (FORBIDDEN_DECLARATIONS.test(body)) {
    throw invalidXml('Document type and entity declarations are not allowed (no DTD, no entities).');
  }
  if (!DECLARATION.test(body)) {
    throw invalidXml('The document must begin with <?xml version="1.0" encoding="UTF-8"?>.');
  }
  return body;
}

/** Parses a whole document, calling `handlers` as it goes; throws 400 `invalid_xml` for anything not well-formed. */
export function readXml(text: string, handlers: XmlHandlers): void {
  const body = precheckXml(text);
  const parser = new SaxesParser({ xmlns: false, position: true });
  let depth = 0;
  parser.on('doctype', () => {
    throw invalidXml('Document type declarations are not allowed.');
  });
  // Nothing here reads one, and some processors act on them (xml-stylesheet fetches its href): refused, not skipped.
  parser.on('processinginstruction', (pi) => {
    throw invalidXml(`Processing instructions are not allowed (<?${pi.target.slice(0, 40)} ...?>).`);
  });
  parser.on('opentag', (tag) => {
    depth++;
    if (depth > MAX_DEPTH) throw invalidXml(`Elements nest deeper than ${MAX_DEPTH} levels.`);
    handlers.openElement(tag.name, tag.attributes as Record<string, string>, depth);
  });
  parser.on('closetag', (tag) => {
    handlers.closeElement(tag.name, depth);
    depth--;
  });
  parser.on('text', (t) => handlers.text(t));
  parser.on('cdata', (t) => handlers.text(t));
  try {
    parser.write(body).close();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw invalidXml(`The document is not well-formed XML: ${describe(err)}`);
  }
}

/**
 * Reads the root element's name and attributes, if the document gets that far
 * safely (used to echo a refused batch's identifier). Never throws.
 */
export function readRoot(text: string): { name: string; attributes: Readonly<Record<string, string>> } | undefined {
  let root: { name: string; attributes: Record<string, string> } | undefined;
  const stop = new Error('stop');
  try {
    const body = precheckXml(text);
    const parser = new SaxesParser({ xmlns: false });
    parser.on('opentag', (tag) => {
      root = { name: tag.name, attributes: tag.attributes as Record<string, string> };
      throw stop;
    });
    parser.write(body).close();
  } catch {
    // Refused, not well-formed, or stopped at the root: whatever was read stands.
  }
  return root;
}

function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  // saxes prefixes "file:line:column: "; keep it short and free of document text.
  return message.slice(0, 200);
}
