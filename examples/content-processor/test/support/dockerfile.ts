// Runs a Dockerfile's steps without a container engine, for a test of the image where none is
// installed: every stage gets a folder standing for its filesystem root; WORKDIR, COPY (from the
// build context, honouring .dockerignore, or --from an earlier stage), ENV and USER are applied
// to it; RUN runs under `sh -c` with the stage's environment only (plus the host's PATH and
// HOME, so the host's node and npm cache stand in for the image's), the image's absolute paths
// rewritten to their folders. What cannot be reproduced is refused by name (an unknown
// instruction or flag), so a Dockerfile change this runner does not understand fails the test
// instead of passing it untried.
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Users of the official node images (`node` is 1000:1000 there). */
const IMAGE_USERS: Record<string, { uid: number; gid: number }> = { root: { uid: 0, gid: 0 }, node: { uid: 1000, gid: 1000 } };

export interface Instruction {
  keyword: string;
  /** Leading --flags, e.g. { from: 'build' } or { mount: 'type=cache,target=/root/.npm' }. */
  flags: Record<string, string>;
  args: string;
}

export interface Stage {
  name?: string;
  /** The folder standing for this stage's `/`. */
  root: string;
  workdir: string;
  env: Record<string, string>;
  user: string;
  /** CMD and HEALTHCHECK CMD of the stage, as argv (exec form) or a shell line (shell form). */
  cmd?: string[];
  healthcheck?: string[];
}

/** The Dockerfile's instructions: comments dropped, continuation lines joined, flags parsed. */
export function parseDockerfile(text: string): Instruction[] {
  const logical = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  const instructions: Instruction[] = [];
  for (const line of logical) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const match = /^(\w+)\s+(.*)$/.exec(trimmed);
    if (!match) throw new Error(`unreadable Dockerfile line: ${trimmed}`);
    let rest = match[2]!;
    const flags: Record<string, string> = {};
    for (let flag = /^--([\w-]+)=(\S+)\s+/.exec(rest); flag; flag = /^--([\w-]+)=(\S+)\s+/.exec(rest)) {
      flags[flag[1]!] = flag[2]!;
      rest = rest.slice(flag[0].length);
    }
    instructions.push({ keyword: match[1]!.toUpperCase(), flags, args: rest });
  }
  return instructions;
}

/** `a=1 b="x y"` → { a: '1', b: 'x y' } (the only ENV form this runner takes). */
function parseEnv(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [, key, quoted, plain] of args.matchAll(/(\w+)=(?:"([^"]*)"|(\S*))/g)) env[key!] = quoted ?? plain ?? '';
  return env;
}

/** CMD's exec form (a JSON array) or shell form. */
function parseCommand(args: string): string[] {
  return args.trim().startsWith('[') ? (JSON.parse(args) as string[]) : ['sh', '-c', args];
}

/** .dockerignore patterns this runner understands: `name`, `a/b` (from the root) and `**\/name`. */
export function ignoreFilter(patterns: string[]): (relative: string) => boolean {
  const anywhere: string[] = [];
  const rooted: string[] = [];
  for (const pattern of patterns) {
    if (pattern.startsWith('!') || /[*?[]/.test(pattern.replace(/^\*\*\//, '').replace(/^\*\./, ''))) {
      throw new Error(`.dockerignore pattern this runner does not understand: ${pattern}`);
    }
    if (pattern.startsWith('**/')) anywhere.push(pattern.slice(3));
    else rooted.push(pattern.replace(/\/$/, ''));
  }
  return (relative) => {
    const parts = relative.split(path.sep);
    if (rooted.some((p) => relative === p || relative.startsWith(`${p}${path.sep}`))) return true;
    return anywhere.some((p) => (p.startsWith('*.') ? parts.some((part) => part.endsWith(p.slice(1))) : parts.includes(p)));
  };
}

export interface BuildOptions {
  dockerfile: string;
  /** The build context (docker build's last argument). */
  context: string;
  /** Where the stages' folders are made. */
  workspace: string;
  /** Each RUN's output, for a failure's message. */
  log?: (line: string) => void;
}

/** Runs every stage; returns them in order (the last one is the image). */
export async function buildStages(options: BuildOptions): Promise<Stage[]> {
  const instructions = parseDockerfile(await readFile(options.dockerfile, 'utf8'));
  const ignorePatterns = (await readFile(path.join(options.context, '.dockerignore'), 'utf8').catch(() => ''))
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const ignored = ignoreFilter(ignorePatterns);
  const stages: Stage[] = [];
  let stage: Stage | undefined;
  const current = (): Stage => {
    if (!stage) throw new Error('Dockerfile instruction before FROM');
    return stage;
  };

  for (const { keyword, flags, args } of instructions) {
    const known = (...names: string[]) => {
      for (const flag of Object.keys(flags)) if (!names.includes(flag)) throw new Error(`${keyword} --${flag} is not reproduced by this runner`);
    };
    switch (keyword) {
      case 'FROM': {
        known();
        const [, name] = /\s+AS\s+(\S+)$/i.exec(args) ?? [];
        stage = { root: path.join(options.workspace, `stage-${stages.length}`), workdir: '/', env: {}, user: 'root', ...(name ? { name } : {}) };
        await mkdir(stage.root, { recursive: true, mode: 0o755 });
        stages.push(stage);
        break;
      }
      case 'WORKDIR': {
        known();
        const s = current();
        s.workdir = path.posix.resolve(s.workdir, args.trim());
        await mkdir(hostPath(s, s.workdir), { recursive: true, mode: 0o755 });
        break;
      }
      case 'ENV':
        known();
        Object.assign(current().env, parseEnv(args));
        break;
      case 'USER':
        known();
        current().user = args.trim();
        break;
      case 'COPY': {
        known('from');
        const s = current();
        const parts = args.trim().split(/\s+/);
        const target = parts.pop()!;
        const from = flags.from === undefined ? undefined : stages.find((x) => x.name === flags.from);
        if (flags.from !== undefined && !from) throw new Error(`COPY --from=${flags.from}: no such stage`);
        const destination = hostPath(s, path.posix.resolve(s.workdir, target));
        for (const source of parts) {
          const sourcePath = from ? hostPath(from, path.posix.resolve(from.workdir, source)) : path.join(options.context, source);
          const isDir = (await stat(sourcePath)).isDirectory();
          // A file into a folder (`dest/`) keeps its name; a folder's contents go into dest.
          const to = !isDir && target.endsWith('/') ? path.join(destination, path.basename(source)) : destination;
          await mkdir(path.dirname(to), { recursive: true, mode: 0o755 });
          await cp(sourcePath, to, {
            recursive: true,
            filter: (file) => from !== undefined || !ignored(path.relative(options.context, file)),
          });
        }
        break;
      }
      case 'RUN': {
        known('mount'); // cache mounts: the host's npm cache (HOME) stands in for them
        const s = current();
        const command = rewritePaths(s, stages, args);
        options.log?.(`RUN ${command}`);
        const { stdout, stderr } = await exec('sh', ['-c', command], { cwd: hostPath(s, s.workdir), env: runEnv(s, stages), maxBuffer: 64 << 20 }).catch(
          (error: { stdout?: string; stderr?: string; message: string }) => {
            throw new Error(`RUN ${args} failed: ${error.message}\n${error.stdout ?? ''}${error.stderr ?? ''}`);
          },
        );
        options.log?.(stdout + stderr);
        break;
      }
      case 'CMD':
        known();
        current().cmd = parseCommand(args);
        break;
      case 'HEALTHCHECK': {
        known('interval', 'timeout', 'retries', 'start-period');
        const [, command] = /^CMD\s+(.*)$/.exec(args.trim()) ?? [];
        if (!command) throw new Error(`HEALTHCHECK without CMD: ${args}`);
        current().healthcheck = parseCommand(command);
        break;
      }
      case 'EXPOSE':
        known();
        break;
      default:
        throw new Error(`Dockerfile instruction ${keyword} is not reproduced by this runner`);
    }
  }
  return stages;
}

/** The host folder for an absolute path inside a stage. */
export function hostPath(stage: Stage, containerPath: string): string {
  return path.join(stage.root, containerPath);
}

/** The image's absolute paths in a command line or a value, mapped to the stage's folder. */
export function rewritePaths(stage: Stage, stages: Stage[], text: string): string {
  const known = new Set<string>([stage.workdir, ...stages.filter((s) => s !== stage).map((s) => s.workdir)]);
  for (const value of Object.values(stage.env)) if (value.startsWith('/')) known.add(value);
  const roots = [...new Set([...known].map((p) => `/${p.split('/')[1]}`))].filter((p) => p !== '/');
  let out = text;
  for (const root of roots) {
    out = out.replace(new RegExp(`(^|[\\s=:'"])${root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=$|[\\s/'";&|])`, 'g'), `$1${hostPath(stage, root)}`);
  }
  // chown by the image's user names, which the host may lack (chown takes numeric ids as well).
  return out.replace(/(\bchown\s+(?:-\w+\s+)*)(\w+):(\w+)/g, (all, head: string, user: string, group: string) => {
    const u = IMAGE_USERS[user];
    const g = IMAGE_USERS[group];
    return u && g ? `${head}${u.uid}:${g.gid}` : all;
  });
}

/** The environment a RUN or the CMD sees: the stage's ENV (paths mapped), the host's PATH and HOME. */
export function runEnv(stage: Stage, stages: Stage[]): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
  for (const [key, value] of Object.entries(stage.env)) env[key] = rewritePaths(stage, stages, value);
  return env;
}

/** uid and gid of the stage's USER, when this process may switch to them (it runs as root). */
export function runAs(stage: Stage): { uid: number; gid: number } | undefined {
  const user = IMAGE_USERS[stage.user];
  if (!user) throw new Error(`USER ${stage.user} is not one of the image's known users`);
  return process.getuid?.() === 0 ? user : undefined;
}

/** Lets the image's unprivileged user into the stages' folder (mkdtemp makes it 0700). */
export async function openToOthers(folder: string): Promise<void> {
  await exec('chmod', ['o+rx', folder]);
}
