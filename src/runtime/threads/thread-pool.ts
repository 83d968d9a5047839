// The worker_threads pool of one Queue: runs `perform` of workers that have a `thread` option off
// the main event loop. Threads start when a job needs one and stay for the next job; a job whose
// signal aborts (timeout, shutdown) has its thread terminated at once, and the next job that
// needs a thread starts a fresh one; a thread that dies fails only the attempt it was running;
// close() terminates them all.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker as NodeWorker } from 'node:worker_threads';
import type { ResolvedThreadPoolOptions } from '../../config/threads.js';
import { threadModuleUrl } from '../../config/threads.js';
import { ConfigError, ShutdownError } from '../../definitions/errors.js';
import type { Job } from '../../definitions/job.js';
import type { Worker } from '../../definitions/worker.js';
import { checkInt } from '../../definitions/worker.js';
import type { FromThread, MethodCall, ToThread } from './thread-protocol.js';
import { decodeReply, encodeError, splitJob } from './thread-protocol.js';

interface Task {
  readonly id: number;
  readonly worker: Worker;
  readonly job: Job;
  readonly signal: AbortSignal;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly onAbort: () => void;
  thread: Thread | undefined;
}

interface Thread {
  readonly worker: NodeWorker;
  /** The attempt it runs; undefined while idle. */
  task: Task | undefined;
}

/** The file a pool thread runs: where the entry is, and how to start it. */
interface Entry {
  readonly url: URL;
  /** Source code to `eval` instead of the file: set when running docket from TypeScript sources. */
  readonly bootstrap: string | undefined;
}

/**
 * Runs `perform` of `thread` workers in worker threads. One per Queue; nothing is shared
 * between queues.
 *
 * @example
 * ```ts
 * const pool = new ThreadPool({ size: 2 });
 * const value = await pool.run(worker, job, signal); // what perform returned, rebuilt here
 * await pool.close();
 * ```
 */
export class ThreadPool {
  readonly #size: number;
  readonly #threads = new Set<Thread>();
  #idle: Thread[] = [];
  readonly #waiting: Task[] = [];
  readonly #terminating = new Set<Promise<unknown>>();
  #entry: Entry | undefined;
  #nextId = 0;
  #closed = false;

  constructor(options: ResolvedThreadPoolOptions) {
    this.#size = options.size;
  }

  /**
   * Runs `worker.perform(job)` in a thread: resolves with what it returned, rejects with what
   * it threw. When `signal` aborts, the thread is terminated and this rejects with its reason.
   */
  run(worker: Worker, job: Job, signal: AbortSignal): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new ShutdownError());
      if (signal.aborted) return reject(signal.reason);
      const task: Task = {
        id: this.#nextId++,
        worker,
        job,
        signal,
        resolve,
        reject,
        onAbort: () => this.#abort(task),
        thread: undefined,
      };
      signal.addEventListener('abort', task.onAbort, { once: true });
      this.#waiting.push(task);
      this.#dispatch();
    });
  }

  /** Terminates every thread (failing what they still run) and resolves once all have exited. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const task of this.#waiting.splice(0)) this.#fail(task, new ShutdownError());
    for (const thread of [...this.#threads]) {
      const task = thread.task;
      this.#retire(thread);
      if (task !== undefined) this.#fail(task, new ShutdownError());
    }
    await Promise.all([...this.#terminating]);
  }

  // Hands waiting tasks to idle threads, starting threads while the pool has room.
  #dispatch(): void {
    while (this.#waiting.length > 0 && !this.#closed) {
      let thread = this.#idle.pop();
      if (thread === undefined) {
        if (this.#threads.size >= this.#size) return;
        try {
          thread = this.#spawn();
        } catch (error) {
          this.#fail(this.#waiting.shift()!, error);
          continue;
        }
      }
      this.#start(thread, this.#waiting.shift()!);
    }
  }

  #start(thread: Thread, task: Task): void {
    task.thread = thread;
    thread.task = task;
    thread.worker.ref();
    try {
      const { data, methods } = splitJob(task.job);
      const module = threadModuleUrl(task.worker.thread!.module).href;
      thread.worker.postMessage({ type: 'run', id: task.id, module, worker: task.worker.name, job: data, methods } satisfies ToThread);
    } catch (error) {
      // Job data that cannot be copied: this attempt fails, the thread is fine.
      this.#fail(task, error);
      this.#rest(thread);
    }
  }

  #spawn(): Thread {
    this.#entry ??= locateEntry();
    const { url, bootstrap } = this.#entry;
    const worker = bootstrap === undefined ? new NodeWorker(url) : new NodeWorker(bootstrap, { eval: true });
    const thread: Thread = { worker, task: undefined };
    this.#threads.add(thread);
    worker.on('message', (message: FromThread) => this.#message(thread, message));
    worker.on('error', (error: unknown) => this.#lost(thread, crashed(error, thread.task)));
    worker.on('messageerror', (error: unknown) => this.#lost(thread, crashed(error, thread.task)));
    worker.on('exit', (code) => this.#lost(thread, exited(code, thread.task)));
    return thread;
  }

  #message(thread: Thread, message: FromThread): void {
    const task = thread.task;
    if (task === undefined || task.id !== message.id) return;
    if (message.type === 'call') {
      this.#call(thread, task, message);
      return;
    }
    this.#finish(task);
    const settled = decodeReply(message.reply);
    if (settled.ok) task.resolve(settled.value);
    else task.reject(settled.error);
    this.#rest(thread);
  }

  // perform in the thread called a method of its job (e.g. progress): run it here, send the result.
  #call(thread: Thread, task: Task, call: MethodCall): void {
    const answer = (message: ToThread): void => {
      if (thread.task !== task) return;
      try {
        thread.worker.postMessage(message);
      } catch (error) {
        // A return value that cannot be copied: the call fails in the thread.
        thread.worker.postMessage({ type: 'return', call: call.call, ok: false, error: encodeError(error) } satisfies ToThread);
      }
    };
    Promise.resolve()
      .then(() => (task.job as unknown as Record<string, (...args: unknown[]) => unknown>)[call.method]!(...call.args))
      .then(
        (value) => answer({ type: 'return', call: call.call, ok: true, value }),
        (error: unknown) => answer({ type: 'return', call: call.call, ok: false, error: encodeError(error) }),
      );
  }

  // A thread whose attempt ended waits for the next one, without keeping the process alive.
  #rest(thread: Thread): void {
    thread.task = undefined;
    if (this.#closed || !this.#threads.has(thread)) return;
    thread.worker.unref();
    this.#idle.push(thread);
    this.#dispatch();
  }

  #abort(task: Task): void {
    const thread = task.thread;
    if (thread === undefined) {
      const at = this.#waiting.indexOf(task);
      if (at >= 0) this.#waiting.splice(at, 1);
    } else {
      this.#retire(thread);
    }
    this.#fail(task, task.signal.reason);
    this.#dispatch();
  }

  // The thread died (crash, exit) or cannot be talked to: the attempt it ran fails, and a later
  // job starts a new thread.
  #lost(thread: Thread, error: Error): void {
    const task = thread.task;
    this.#retire(thread);
    if (task !== undefined) this.#fail(task, error);
    this.#dispatch();
  }

  // Out of the pool for good, and terminated.
  #retire(thread: Thread): void {
    if (!this.#threads.has(thread)) return;
    this.#forget(thread);
    const exit = thread.worker
      .terminate()
      .catch(() => undefined) // it is going anyway; nothing to report
      .finally(() => this.#terminating.delete(exit));
    this.#terminating.add(exit);
  }

  #forget(thread: Thread): void {
    thread.task = undefined;
    this.#threads.delete(thread);
    this.#idle = this.#idle.filter((t) => t !== thread);
  }

  #fail(task: Task, error: unknown): void {
    this.#finish(task);
    task.reject(error);
  }

  #finish(task: Task): void {
    task.signal.removeEventListener('abort', task.onAbort);
    if (task.thread?.task === task) task.thread.task = undefined;
  }
}

function describe(task: Task | undefined): string {
  return task === undefined ? 'an idle thread' : `the thread running job ${task.job.id} (worker "${task.worker.name}")`;
}

function crashed(cause: unknown, task: Task | undefined): Error {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const error = new Error(`${capitalize(describe(task))} crashed: ${reason}`, { cause });
  if (cause instanceof Error && typeof cause.stack === 'string') error.stack = `${error.name}: ${error.message}\nCaused by: ${cause.stack}`;
  return error;
}

function exited(code: number, task: Task | undefined): Error {
  return new Error(`${capitalize(describe(task))} exited (code ${code}) before perform settled`);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * Finds the thread entry next to this module: `thread-entry.ts` beside this file when running
 * from sources, `thread-entry.js` / `.cjs` beside the bundle (tsup builds it as its own entry).
 */
function locateEntry(): Entry {
  const here = import.meta.url;
  const extension = /\.[cm]?[jt]s$/.exec(new URL(here).pathname)?.[0] ?? '.js';
  const url = new URL(`./thread-entry${extension}`, here);
  if (!existsSync(fileURLToPath(url))) {
    throw new Error(
      `docket's thread entry is missing at ${fileURLToPath(url)}: thread workers need that file next to docket's own (was docket bundled into another file?)`,
    );
  }
  return { url, bootstrap: extension.endsWith('ts') ? typescriptBootstrap(url) : undefined };
}

/**
 * Running docket from its TypeScript sources (its own tests, the example): a thread cannot load
 * `.ts`, and on Node 20 it does not inherit the loaders of the main thread, so it registers tsx
 * (a devDependency) itself before importing the entry. Published builds never come here.
 */
function typescriptBootstrap(entry: URL): string {
  let api: string;
  try {
    const manifest = createRequire(entry).resolve('tsx/package.json');
    const { exports } = JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
    api = pathToFileURL(path.join(path.dirname(manifest), exports['./esm/api']!.import.default)).href;
  } catch (cause) {
    throw new Error('Running docket from its TypeScript sources, thread workers need tsx to load .ts files in threads', { cause });
  }
  return `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`;
}
