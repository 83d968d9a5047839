// The dependency rules between src/ folders (.dependency-cruiser.cjs) hold, and they bite: a
// planted forbidden import (the job path importing a plugin) fails with the rule's name and
// its reason.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
const depcruise = path.join(root, 'node_modules', '.bin', 'depcruise');

async function cruise(cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(depcruise, ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err-long'], { cwd });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

const copy = mkdtempSync(path.join(os.tmpdir(), 'docket-layering-'));
afterAll(() => rmSync(copy, { recursive: true, force: true }));

it('src/ follows the dependency rules', async () => {
  const { code, output } = await cruise(root);
  expect(output).toContain('no dependency violations found');
  expect(code).toBe(0);
}, 60_000);

it('a planted violation fails, naming the rule and why it exists', async () => {
  for (const item of ['src', '.dependency-cruiser.cjs', 'tsconfig.json', 'tsconfig.base.json', 'package.json']) cpSync(path.join(root, item), path.join(copy, item), { recursive: true });
  writeFileSync(
    path.join(copy, 'src', 'runtime', 'planted.ts'),
    "import { Lifeline } from '../plugins/lifeline.js';\nexport const planted = new Lifeline();\n",
  );
  const { code, output } = await cruise(copy);
  expect(code).not.toBe(0);
  expect(output).toContain('job-path-never-imports-plugins');
  expect(output).toContain('src/runtime/planted.ts');
  expect(output.replace(/\s+/g, ' ')).toContain('acking a job must work with no plugin present');
}, 60_000);
