import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, loadConfig } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'omnibus-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(content: unknown): string {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('configuration', () => {
  it('has the SPEC defaults with an empty environment', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 3000, host: '127.0.0.1', sqlitePath: './data/omnibus.db', maxOps: 100, maxXmlOps: 64 });
    expect(c.maxBatchBytes).toBe(10 * 1024 * 1024);
    expect(c.batchDeadlineMs).toBe(30_000);
    expect(c.requireIfMatch).toBe(false);
  });

  it('reads every variable of SPEC section 7', () => {
    const c = loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      OMNIBUS_DB: '/tmp/x.db',
      OMNIBUS_TOKENS: 'a=acme:read',
      OMNIBUS_MAX_OPS: '10',
      OMNIBUS_MAX_XML_OPS: '5',
      OMNIBUS_MAX_BATCH_BYTES: '2048',
      OMNIBUS_MAX_OBJECTS: '7',
      OMNIBUS_REQUIRE_IF_MATCH: 'true',
      OMNIBUS_BATCH_DEADLINE_MS: '500',
      LOG_LEVEL: 'debug',
    });
    expect(c).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      sqlitePath: '/tmp/x.db',
      tokens: 'a=acme:read',
      maxOps: 10,
      maxXmlOps: 5,
      maxBatchBytes: 2048,
      maxObjects: 7,
      requireIfMatch: true,
      batchDeadlineMs: 500,
      logLevel: 'debug',
    });
    expect(loadConfig({ DATABASE_URL: 'postgres://u@h/db' }).databaseUrl).toBe('postgres://u@h/db');
    expect(loadConfig({ DATABASE_URL: 'sqlite:./other.db' }).sqlitePath).toBe('./other.db');
  });

  it('refuses invalid values with a message naming the variable', () => {
    expect(() => loadConfig({ OMNIBUS_MAX_OPS: 'lots' })).toThrow(/OMNIBUS_MAX_OPS/);
    expect(() => loadConfig({ OMNIBUS_REQUIRE_IF_MATCH: 'maybe' })).toThrow(/OMNIBUS_REQUIRE_IF_MATCH/);
    expect(() => loadConfig({ LOG_LEVEL: 'loud' })).toThrow(ConfigError);
  });

  it('adds collections, schemas and per-tenant limits from the config file', () => {
    const c = loadConfig({
      OMNIBUS_CONFIG: file({
        openCollections: false,
        collections: [{ name: 'time/projects', schema: { type: 'object', required: ['name'] } }, { name: 'books' }],
        tenants: { acme: { maxObjects: 3 } },
      }),
    });
    expect(c.openCollections).toBe(false);
    expect(c.collections.map((x) => x.name)).toEqual(['time/projects', 'books']);
    expect(c.collections[0]!.schema).toEqual({ type: 'object', required: ['name'] });
    expect(c.tenantMaxObjects).toEqual({ acme: 3 });
    expect(DEFAULTS.collections).toEqual([]);
  });

  it('refuses a config file that is not JSON, has unknown keys or bad collection names', () => {
    expect(() => loadConfig({ OMNIBUS_CONFIG: file('{nope') })).toThrow(ConfigError);
    expect(() => loadConfig({ OMNIBUS_CONFIG: file({ colections: [] }) })).toThrow(/colections/);
    expect(() => loadConfig({ OMNIBUS_CONFIG: file({ collections: [{ name: '../x' }] }) })).toThrow(/collections/);
    expect(() => loadConfig({ OMNIBUS_CONFIG: join(dir, 'missing.json') })).toThrow(/Cannot read config file/);
  });
});
