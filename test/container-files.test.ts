import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Copy, DockerfileParser, Env, From, Healthcheck, type Instruction } from 'dockerfile-ast';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

/**
 * The Dockerfile and compose.yaml cannot be built here (no Docker daemon, no
 * registry), so they are read as a linter would: parsed with dockerfile-ast
 * and yaml, then checked for what the README promises of them.
 */
const ROOT = join(import.meta.dirname, '..');
const read = (name: string) => readFileSync(join(ROOT, name), 'utf8');
const CONFIG_SOURCE = read('src/config.ts');

interface Stage {
  name: string | null;
  from: From;
  instructions: Instruction[];
}

function stages(text: string): Stage[] {
  const out: Stage[] = [];
  for (const instruction of DockerfileParser.parse(text).getInstructions()) {
    if (instruction instanceof From) out.push({ name: instruction.getBuildStage(), from: instruction, instructions: [] });
    else out.at(-1)?.instructions.push(instruction);
  }
  return out;
}

const args = (i: Instruction) => i.getArguments().map((a) => a.getValue());
const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
const runs = (stage: Stage) => of(stage, 'RUN').map((i) => i.getRawArgumentsContent() ?? '');

describe('Dockerfile', () => {
  const all = stages(read('Dockerfile'));
  const final = all.at(-1)!;
  const named = (name: string | undefined) => all.find((s) => s.name === name);

  it('is multi-stage: a build stage with the dev dependencies compiles the TypeScript', () => {
    expect(all.length).toBeGreaterThanOrEqual(2);
    for (const s of all) expect(s.name, s.from.getRawArgumentsContent() ?? '').toBeTruthy();
    const build = all.find((s) => runs(s).some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r)));
    expect(build, 'a stage installs every dependency').toBeDefined();
    expect(runs(build!).some((r) => /\btsc\b|npm run build/.test(r))).toBe(true);
    expect(build).not.toBe(final);
  });

  it('runs with production dependencies only: node_modules comes from an npm ci --omit=dev stage, dist from the build', () => {
    expect(runs(final).some((r) => /\bnpm (ci|install)\b/.test(r))).toBe(false);
    const copies = of(final, 'COPY') as Copy[];
    const from = (dest: string) => copies.find((c) => args(c).at(-1)?.replace(/\/$/, '').endsWith(dest))?.getFromFlag()?.getValue() ?? undefined;
    const deps = named(from('node_modules'));
    expect(deps, 'node_modules is copied from a stage').toBeDefined();
    expect(runs(deps!).some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).toBe(true);
    expect(runs(named(from('dist'))!).some((r) => /\btsc\b|npm run build/.test(r))).toBe(true);
  });

  it('runs as a user that is not root', () => {
    const users = of(final, 'USER').map((u) => args(u)[0]);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:.*)?$/);
    // The instructions after the last USER run as that user: the CMD and HEALTHCHECK among them.
    const keywords = final.instructions.map((i) => i.getKeyword());
    expect(keywords.lastIndexOf('USER')).toBeLessThan(keywords.lastIndexOf('CMD'));
  });

  it('checks its health on /healthz with node (no curl in the image), on the port it exposes', () => {
    const checks = of(final, 'HEALTHCHECK') as Healthcheck[];
    expect(checks).toHaveLength(1);
    const command = checks[0]!.getRawArgumentsContent() ?? '';
    expect(command).toMatch(/CMD \[?"?node"?/);
    expect(command).toContain('/healthz');
    expect(command).not.toMatch(/\bcurl\b|\bwget\b/);
    const env = new Map((of(final, 'ENV') as Env[]).flatMap((e) => e.getProperties().map((p) => [p.getName(), p.getValue()] as const)));
    const exposed = of(final, 'EXPOSE').flatMap(args).map((p) => p.replace(/\/tcp$/, ''));
    expect(exposed).toEqual([env.get('PORT')]);
    expect(env.get('HOST')).toBe('0.0.0.0');
    for (const name of env.keys()) if (name !== 'NODE_ENV') expect(CONFIG_SOURCE, name).toMatch(new RegExp(`\\b${name}\\b`));
  });

  it('starts the server', () => {
    const cmd = of(final, 'CMD').at(-1)!;
    expect(cmd.getRawArgumentsContent()).toMatch(/bin\/omnibus\.js.*serve/);
  });

  it('leaves node_modules, builds and databases out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', '.git', '*.db']) expect(ignored).toContain(entry);
  });
});

describe('compose.yaml', () => {
  const compose = parse(read('compose.yaml')) as { services: Record<string, any> };
  const services = Object.entries(compose.services);
  const postgres = services.filter(([, s]) => /^postgres(:|$)/.test(String(s.image ?? '')));
  const nodes = services.filter(([, s]) => s.build !== undefined || /omnibus/.test(String(s.image ?? '')));

  it('has PostgreSQL with a health check and two Omnibus nodes that wait for it to be healthy', () => {
    expect(postgres).toHaveLength(1);
    const [pgName, pg] = postgres[0]!;
    expect(JSON.stringify(pg.healthcheck.test)).toContain('pg_isready');
    expect(nodes).toHaveLength(2);
    for (const [name, s] of nodes) {
      expect(s.depends_on?.[pgName]?.condition, name).toBe('service_healthy');
      expect(JSON.stringify(s.healthcheck?.test), name).toContain('/healthz');
      expect(s.environment.DATABASE_URL, name).toMatch(new RegExp(`^postgres(ql)?://[^@]+@${pgName}:5432/`));
      expect(s.environment.HOST, name).toBe('0.0.0.0');
    }
  });

  it('publishes each node on a port of its own, mapped to the port the node listens on', () => {
    const published = nodes.map(([, s]) => {
      expect(s.ports).toHaveLength(1);
      const [host, container] = String(s.ports[0]).split(':');
      expect(container).toBe(String(s.environment.PORT));
      return host;
    });
    expect(new Set(published).size).toBe(2);
  });

  it('sets only variables the server reads (src/config.ts)', () => {
    for (const [name, s] of nodes) {
      const names = Object.keys(s.environment);
      expect(names, name).toContain('OMNIBUS_TOKENS');
      for (const variable of names) expect(CONFIG_SOURCE, `${name}: ${variable}`).toMatch(new RegExp(`\\b${variable}:`));
    }
  });

  it('is documented in the README', () => {
    const readme = read('README.md');
    expect(readme).toMatch(/## Running in containers/);
    expect(readme).toContain('docker compose up');
  });
});
