import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { createClient } from '../client/index.js';
import { collectionUrl } from './import/run.js';

export interface ExportOptions {
  collection: string;
  url: string;
  token?: string;
  filter?: string;
  orderby?: string;
  pageSize: number;
  output?: string;
  withMetadata: boolean;
  retries: number;
  err: (line: string) => void;
}

/**
 * `omnibus export`: the collection's records as NDJSON, one page
 * (`$top=pageSize`) at a time through omnibus/client, following `next`;
 * written as each page arrives, waiting for the output to drain, so memory
 * holds one page at most. `_etag` and `_updated` are left out unless
 * `withMetadata`, so the output imports back as it is (`--upsert-by id`
 * keeps the ids).
 */
export async function runExport(o: ExportOptions): Promise<number> {
  const client = createClient({ baseUrl: o.url, token: o.token, autoBatch: false, retry: { retries: o.retries } });
  const query: string[] = [];
  if (o.filter !== undefined) query.push(`$filter=${encodeURIComponent(o.filter)}`);
  if (o.orderby !== undefined) query.push(`$orderby=${encodeURIComponent(o.orderby)}`);
  query.push(`$top=${o.pageSize}`);
  const path = `${collectionUrl(o.collection)}?${query.join('&')}`;
  const out: Writable = o.output === undefined ? process.stdout : createWriteStream(o.output);
  let count = 0;
  const started = Date.now();
  try {
    for await (const page of client.pages<Record<string, unknown>>(path)) {
      let text = '';
      for (const item of page.items) {
        if (!o.withMetadata) {
          delete item['_etag'];
          delete item['_updated'];
        }
        text += JSON.stringify(item) + '\n';
      }
      count += page.items.length;
      if (text !== '' && !out.write(text)) await once(out, 'drain');
    }
  } finally {
    if (out !== process.stdout) {
      out.end();
      await once(out, 'finish');
    }
  }
  const seconds = (Date.now() - started) / 1000;
  o.err(`exported ${count.toLocaleString('en-US')} records from ${o.collection} in ${seconds.toFixed(1)}s${o.output ? ` to ${o.output}` : ''}`);
  return 0;
}
