import { InvalidArgumentError, Option, type Command } from 'commander';
import { runExport } from './export.js';
import type { ProgressMode } from './import/progress.js';
import { runImport } from './import/run.js';

function positiveInt(name: string, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) throw new InvalidArgumentError(`${name} must be a whole number from 1 to ${max}`);
    return Number(value);
  };
}

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
}

const DEFAULT_URL = 'http://127.0.0.1:3000';

const CONNECTION_HELP = `
The server and token come from --url and --token, or from OMNIBUS_URL and
OMNIBUS_TOKEN (default URL ${DEFAULT_URL}). A token needs the write scope to
import and the read scope to export; "omnibus token create --tenant T" makes one.`;

interface ImportFlags {
  collection: string;
  url?: string;
  token?: string;
  concurrency: number;
  batchSize: number;
  upsertBy?: string;
  format?: string;
  resume?: boolean;
  state?: string;
  failures?: string;
  retries: number;
  progress: ProgressMode;
  csvStrings?: boolean;
}

interface ExportFlags {
  collection: string;
  url?: string;
  token?: string;
  filter?: string;
  orderby?: string;
  pageSize: number;
  output?: string;
  withMetadata?: boolean;
  retries: number;
}

const print = (stream: NodeJS.WriteStream) => (line: string) => void stream.write(`${line}\n`);

/** `omnibus import` and `omnibus export`: moving records in and out of a running server with batches. */
export function registerDataCommands(program: Command): void {
  program
    .command('import')
    .description('Import records from an NDJSON, JSON-array or CSV file into a collection, in batches, resumably')
    .argument('<file>', 'the input: .ndjson/.jsonl (one JSON object a line), .json (an array of objects) or .csv (a header row, then records)')
    .requiredOption('-c, --collection <name>', 'the collection to write to (as books, or time/projects)')
    .option('--url <url>', `the server (OMNIBUS_URL, default ${DEFAULT_URL})`)
    .option('--token <token>', 'a token with the write scope (OMNIBUS_TOKEN)')
    .option('--concurrency <n>', 'batches in flight at once', positiveInt('--concurrency', 64), 4)
    .option('--batch-size <n>', 'records per batch, at most the server\'s OMNIBUS_MAX_OPS', positiveInt('--batch-size', 10000), 100)
    .option('--upsert-by <field>', 'write each record with PUT at the id in this field (create or replace), instead of POST (a new id each)')
    .addOption(new Option('--format <format>', 'the input format, when the file name does not tell').choices(['ndjson', 'json', 'csv']))
    .option('--resume', 'continue an interrupted import of this file after its last acknowledged batch')
    .option('--state <file>', 'where to keep the resume state (default: <file>.import-state.json, next to the input)')
    .option('--failures <file>', 'where to write the records that failed, one JSON line each (default: <file>.failures.ndjson)')
    .option('--retries <n>', 'retries of a batch that got no answer or a 5xx, with backoff and the same idempotency key', wholeNumber, 4)
    .addOption(new Option('--progress <mode>', 'a progress bar (bar), plain lines every 2 s (lines), or nothing (none); auto: a bar on a terminal').choices(['auto', 'bar', 'lines', 'none']).default('auto'))
    .option('--csv-strings', 'CSV: keep every value a string (by default 412 and true become a number and a boolean)')
    .addHelpText(
      'after',
      `${CONNECTION_HELP}

Each batch is one transaction on the server and carries an Idempotency-Key
made from this import's id and the batch's position in the file. A record the
server refuses (a schema violation, say) goes to the failures file and the
rest of its batch is written without it. If the import stops (the server went
away, Ctrl-C), run the same command with --resume: it goes on after the last
batch the server acknowledged, and a batch that was in flight is answered from
the server's idempotency record rather than written twice. Exit code: 0 when
every record was imported, 2 when some failed, 1 when the import stopped.

Examples:
  $ omnibus import books.ndjson --collection books --token "$T"
  $ omnibus import people.csv -c people --upsert-by email --concurrency 8
  $ omnibus import dump.json -c books --upsert-by id --url https://omnibus.example
  $ omnibus import books.ndjson -c books --resume        # after an interruption`,
    )
    .action(async (file: string, flags: ImportFlags) => {
      process.exitCode = await runImport({
        file,
        collection: flags.collection,
        url: flags.url ?? process.env['OMNIBUS_URL'] ?? DEFAULT_URL,
        token: token(flags.token),
        concurrency: flags.concurrency,
        batchSize: flags.batchSize,
        upsertBy: flags.upsertBy,
        format: flags.format,
        resume: flags.resume === true,
        statePath: flags.state,
        failuresPath: flags.failures,
        retries: flags.retries,
        progress: flags.progress,
        csvStrings: flags.csvStrings === true,
        out: print(process.stdout),
        err: print(process.stderr),
      });
    });

  program
    .command('export')
    .description('Write the records of a collection to stdout (or a file) as NDJSON, page by page')
    .requiredOption('-c, --collection <name>', 'the collection to read')
    .option('--url <url>', `the server (OMNIBUS_URL, default ${DEFAULT_URL})`)
    .option('--token <token>', 'a token with the read scope (OMNIBUS_TOKEN)')
    .option('--filter <expression>', 'only the records matching this $filter (as "pages gt 100 and author/name eq \'X\'")')
    .option('--orderby <expression>', 'the order ($orderby, as "title desc"); default: the order of creation')
    .option('--page-size <n>', 'records per request', positiveInt('--page-size', 1000), 1000)
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('--with-metadata', 'keep _etag and _updated in each record')
    .option('--retries <n>', 'retries of a page request that got no answer or a 5xx', wholeNumber, 4)
    .addHelpText(
      'after',
      `${CONNECTION_HELP}

Each line is one record with its id; _etag and _updated are left out unless
--with-metadata, so the file imports back as it is
(omnibus import out.ndjson -c books --upsert-by id keeps the ids).

Examples:
  $ omnibus export --collection books > books.ndjson
  $ omnibus export -c books --filter "pages gt 400" --orderby title -o long-books.ndjson`,
    )
    .action(async (flags: ExportFlags) => {
      process.exitCode = await runExport({
        collection: flags.collection,
        url: flags.url ?? process.env['OMNIBUS_URL'] ?? DEFAULT_URL,
        token: token(flags.token),
        filter: flags.filter,
        orderby: flags.orderby,
        pageSize: flags.pageSize,
        output: flags.output,
        withMetadata: flags.withMetadata === true,
        retries: flags.retries,
        err: print(process.stderr),
      });
    });
}

function token(flag: string | undefined): string | undefined {
  const t = flag ?? process.env['OMNIBUS_TOKEN'];
  return t === '' ? undefined : t;
}
