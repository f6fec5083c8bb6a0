import { accessSync, constants, mkdirSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { isPostgresUrl, redactUrl, type Config } from '../config.js';
import type { Logger } from '../log.js';
import { currentUser, errorCode, errorMessage, StartupError } from '../startup-error.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './types.js';

/**
 * Opens the store the configuration names: PostgreSQL for `postgres://` URLs, else the SQLite file.
 * A store that cannot be opened, or a SQLite file that could be read but not written, fails here
 * with a `StartupError` that says what to check, never at the first write.
 */
export async function openStore(config: Pick<Config, 'databaseUrl' | 'sqlitePath'> & Partial<Pick<Config, 'batchCommitMs'>>, logger?: Logger): Promise<Store> {
  if (isPostgresUrl(config.databaseUrl)) {
    const url = config.databaseUrl;
    try {
      return await PostgresStore.open({ url, logger, batchCommitMs: config.batchCommitMs });
    } catch (err) {
      throw postgresStartupError(err, url);
    }
  }
  checkSqlitePath(config.sqlitePath);
  try {
    return new SqliteStore({ path: config.sqlitePath, batchCommitMs: config.batchCommitMs });
  } catch (err) {
    throw sqliteStartupError(err, config.sqlitePath);
  }
}

/** What an operator reads when PostgreSQL cannot be used at start. */
export function postgresStartupError(err: unknown, url: string): StartupError {
  const where = `PostgreSQL at ${postgresAddress(url)}`;
  const shown = `DATABASE_URL=${redactUrl(url)}`;
  const code = errorCode(err);
  const message = errorMessage(err);
  const user = userOf(url);
  const text = ((): string => {
    switch (code) {
      case 'ECONNREFUSED':
        return `cannot reach ${where} (ECONNREFUSED): is it running? ${shown}`;
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return `cannot reach ${where} (${code}: the host name does not resolve): check the host in ${shown}`;
      case 'ETIMEDOUT':
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        return `cannot reach ${where} (${code}): is the host up, and does the network (a firewall) let this machine through? ${shown}`;
      case '28P01':
      case '28000':
        return `${where} refused the login of user "${user}" (${code}: ${message}): check the user and password in ${shown}`;
      case '3D000':
        return `${where} has no such database (${code}: ${message}): create it (createdb), or fix the database name in ${shown}`;
      case '42501':
        return `${where}: user "${user}" may not create Omnibus's tables (${code}: ${message}): grant it CREATE on the database, or run the first start as the database owner. ${shown}`;
      case '57P03':
        return `${where} is starting up or shutting down (57P03): try again in a moment. ${shown}`;
      case '53300':
        return `${where} has no free connection (53300 too many connections): raise max_connections or stop idle clients. ${shown}`;
    }
    if (/timeout exceeded when trying to connect/i.test(message)) {
      return `cannot reach ${where} (no answer within 10 s): is it running, and can this machine reach it (host, port, firewall)? ${shown}`;
    }
    if (/connection terminated|server closed the connection/i.test(message)) {
      return `${where} closed the connection while Omnibus was connecting (${message}): is PostgreSQL really listening on that port, is it restarting, or does it require SSL (add ?sslmode=require)? ${shown}`;
    }
    if (/does not support SSL/i.test(message)) {
      return `${where} does not accept SSL connections: remove sslmode/ssl from ${shown}`;
    }
    return `cannot open ${where}: ${message}${code ? ` (${code})` : ''}. ${shown}`;
  })();
  return new StartupError(text, { cause: err });
}

/**
 * Finds, before anything is opened, what would make the SQLite database
 * unusable or read-only: a missing directory that cannot be created, a
 * directory or file this user cannot write (SQLite needs to create `-wal` and
 * `-shm` files beside the database), a path through a regular file.
 */
export function checkSqlitePath(path: string): void {
  if (path === ':memory:' || path === '') return;
  const fail = (why: string): never => {
    throw new StartupError(`cannot open the SQLite database ${path}: ${why}`);
  };
  const hint = 'fix its owner or mode, or set OMNIBUS_DB to a path this user can write';
  const dir = dirname(path);
  const dirStat = statOrUndefined(dir);
  if (dirStat === undefined) {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      const code = errorCode(err);
      if (code === 'ENOTDIR' || code === 'EEXIST') fail(`${dir} cannot be created: part of that path is a file, not a directory (set OMNIBUS_DB)`);
      if (code === 'EACCES' || code === 'EPERM') fail(`the directory ${dir} cannot be created by ${currentUser()} (${hint})`);
      if (code === 'EROFS') fail(`the directory ${dir} cannot be created: the file system is read-only (set OMNIBUS_DB)`);
      fail(`the directory ${dir} cannot be created (${errorMessage(err)})`);
    }
  } else if (!dirStat.isDirectory()) {
    fail(`${dir} is a file, not a directory (set OMNIBUS_DB)`);
  }
  if (!writable(dir)) {
    fail(`the directory is not writable by ${currentUser()} (${dir}: ${hint})`);
  }
  const fileStat = statOrUndefined(path);
  if (fileStat?.isDirectory()) fail('that path is a directory, not a file (set OMNIBUS_DB to a file path)');
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (statOrUndefined(file) !== undefined && !writable(file)) {
      fail(`the file ${file === path ? '' : `${file} `}is not writable by ${currentUser()} (${hint})`);
    }
  }
}

/** What an operator reads when SQLite refuses the file although the checks above passed. */
export function sqliteStartupError(err: unknown, path: string): StartupError {
  const code = errorCode(err);
  const message = errorMessage(err);
  const hint =
    code === 'SQLITE_NOTADB'
      ? ': it is not an SQLite database (set OMNIBUS_DB to another file)'
      : code === 'SQLITE_BUSY'
        ? ': another process holds it locked'
        : code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN'
          ? `: check that ${currentUser()} can write the file and its directory`
          : '';
  return new StartupError(`cannot open the SQLite database ${path}: ${message}${code ? ` (${code})` : ''}${hint}`, { cause: err });
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** `host:port` of a PostgreSQL URL, as the driver would connect to it. */
export function postgresAddress(url: string): string {
  try {
    const u = new URL(url);
    const host = decodeURIComponent(u.hostname) || u.searchParams.get('host') || process.env['PGHOST'] || 'localhost';
    const port = u.port || u.searchParams.get('port') || process.env['PGPORT'] || '5432';
    return host.startsWith('/') ? `${host} (socket, port ${port})` : `${host}:${port}`;
  } catch {
    return 'the address in DATABASE_URL';
  }
}

function userOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username) || process.env['PGUSER'] || 'the current OS user';
  } catch {
    return '?';
  }
}
