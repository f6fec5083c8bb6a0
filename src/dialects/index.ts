import { batchPathKey } from '../engine/paths.js';
import { compositeDialect } from './composite/index.js';
import { fhirDialect } from './fhir/index.js';
import { jsonapiAtomicDialect } from './jsonapi-atomic/index.js';
import { odataJsonDialect } from './odata-json/index.js';
import { odataMultipartDialect } from './odata-multipart/index.js';
import { opsDialect } from './ops.js';
import { partsDialect } from './parts.js';
import { requestsDialect } from './requests.js';
import type { Dialect } from './types.js';
import { xmlDialect } from './xml/index.js';

export type { Dialect } from './types.js';
export { compositeDialect, fhirDialect };
export { jsonapiAtomicDialect, odataJsonDialect, odataMultipartDialect, opsDialect, partsDialect, requestsDialect, xmlDialect };

/**
 * Every dialect the server speaks. A new dialect is one module and one line here.
 * The OData multipart batch stands before the JSON one: both answer `POST /v1/$batch`, and only
 * `multipart/mixed` goes to it (the JSON batch takes, and refuses, every other type).
 */
export const DIALECTS: readonly Dialect[] = [opsDialect, requestsDialect, partsDialect, xmlDialect, odataMultipartDialect, odataJsonDialect, jsonapiAtomicDialect, fhirDialect, compositeDialect];

/** The paths operations may never target: every endpoint of every dialect. */
export function batchPathsOf(dialects: readonly Dialect[]): Set<string> {
  // An endpoint served with a trailing slash (`/fhir/`) is also kept in that form (see resolveOperationPath).
  return new Set(
    dialects.flatMap((d) => d.endpoints.flatMap((e) => (e.path.length > 1 && e.path.endsWith('/') ? [batchPathKey(e.path), `${batchPathKey(e.path)}/`] : [batchPathKey(e.path)]))),
  );
}

export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}
