/**
 * The one way Omnibus writes XML: a tiny tree of elements serialised by a
 * single escaping function. Every attribute value and every piece of text
 * goes through `escapeXml`, so no value is ever concatenated unescaped.
 */

export type XmlNode = XmlElementNode | string;

export interface XmlElementNode {
  name: string;
  attributes: Array<[string, string]>;
  children: XmlNode[];
}

/** Attribute values: undefined leaves the attribute out; numbers are written in decimal. */
export type XmlAttributes = Record<string, string | number | undefined>;

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/**
 * Characters XML 1.0 cannot carry at all (C0 controls but tab, LF and CR;
 * U+FFFE, U+FFFF; lone surrogates). They are replaced with U+FFFD, the
 * replacement character, rather than written into a document no parser
 * would accept.
 */
const ILLEGAL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  // As character references, CR survives end-of-line handling, and tab and LF
  // survive attribute-value normalisation: values round-trip exactly.
  '\r': '&#13;',
  '\t': '&#9;',
  '\n': '&#10;',
};

/**
 * Escapes `& < > " '` everywhere, CR everywhere, and tab and LF inside
 * attribute values; replaces characters illegal in XML 1.0 with U+FFFD.
 */
export function escapeXml(value: string, inAttribute: boolean): string {
  const clean = value.replace(ILLEGAL, '\ufffd');
  return clean.replace(inAttribute ? /[&<>"'\r\t\n]/g : /[&<>"'\r]/g, (c) => ESCAPES[c]!);
}

export function element(name: string, attributes: XmlAttributes = {}, children: XmlNode[] = []): XmlElementNode {
  if (!NAME.test(name)) throw new Error(`Not an XML element name: ${name}`);
  const list: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    if (!NAME.test(key)) throw new Error(`Not an XML attribute name: ${key}`);
    list.push([key, String(value)]);
  }
  return { name, attributes: list, children };
}

export function serialize(node: XmlNode): string {
  const out: string[] = [];
  write(node, out);
  return out.join('');
}

function write(node: XmlNode, out: string[]): void {
  if (typeof node === 'string') {
    out.push(escapeXml(node, false));
    return;
  }
  out.push('<', node.name);
  for (const [key, value] of node.attributes) out.push(' ', key, '="', escapeXml(value, true), '"');
  if (node.children.length === 0) {
    out.push('/>');
    return;
  }
  out.push('>');
  for (const child of node.children) write(child, out);
  out.push('</', node.name, '>');
}

export const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';

/** A whole document: the declaration, a newline, the root element. */
export function xmlDocument(root: XmlElementNode): string {
  return `${XML_DECLARATION}\n${serialize(root)}`;
}
