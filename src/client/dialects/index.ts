import type { WireDialect } from '../wire.js';
import { odataJsonWire } from './odata-json.js';
import { opsWire } from './ops.js';
import { requestsWire } from './requests.js';

/** The batch formats the client writes: the JSON ones whose operations it can map one to one. */
export type DialectName = 'odata-json' | 'requests' | 'ops';

export const WIRE_DIALECTS: Record<DialectName, WireDialect> = {
  'odata-json': odataJsonWire,
  requests: requestsWire,
  ops: opsWire,
};
