// The script every thread of a Queue's thread pool runs (built as its own entry, next to the
// bundle). For each job the pool sends it imports the module the worker's `thread.module` names
// (once per thread), finds the exported Worker of that name, runs its perform and reports what
// perform returned or threw. One job at a time. A timeout or shutdown terminates the whole
// thread, so nothing here cleans up after an aborted job.
import type { MessagePort } from 'node:worker_threads';
import { parentPort } from 'node:worker_threads';
import type { FromThread, MethodReturn, Reply, RunRequest, ToThread } from './thread-protocol.js';
import { decodeError, encodeReturn, encodeThrow } from './thread-protocol.js';

/** What the thread needs of a Worker: docket's own class may be another copy here, so no instanceof. */
interface Performer {
  readonly name: string;
  perform(job: unknown, context: { readonly signal: AbortSignal }): unknown;
}

function isPerformer(value: unknown): value is Performer {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Performer).name === 'string' &&
    typeof (value as Performer).perform === 'function'
  );
}

/** Serves run requests on `port` until the pool terminates the thread. */
function serve(port: MessagePort): void {
  const workers = new Map<string, Promise<Performer>>();
  const calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
  let nextCall = 0;
  // Aborting means terminating this thread, so the signal perform sees never fires.
  const signal = new AbortController().signal;

  const post = (message: FromThread): void => port.postMessage(message);

  port.on('message', (message: ToThread) => {
    if (message.type === 'return') returned(message);
    else void run(message);
  });

  function returned(message: MethodReturn): void {
    const call = calls.get(message.call);
    if (call === undefined) return;
    calls.delete(message.call);
    if (message.ok) call.resolve(message.value);
    else call.reject(decodeError(message.error!));
  }

  async function run(request: RunRequest): Promise<void> {
    let reply: Reply;
    try {
      const worker = await find(request.module, request.worker);
      reply = encodeReturn(await worker.perform(jobOf(request), { signal }));
    } catch (error) {
      reply = encodeThrow(error);
    }
    post({ type: 'done', id: request.id, reply });
  }

  // The job perform sees: the data, plus its methods (e.g. `progress`) run on the main thread.
  function jobOf(request: RunRequest): Record<string, unknown> {
    const job: Record<string, unknown> = { ...request.job };
    for (const method of request.methods) {
      job[method] = (...args: unknown[]): Promise<unknown> =>
        new Promise((resolve, reject) => {
          const call = nextCall++;
          calls.set(call, { resolve, reject });
          try {
            post({ type: 'call', id: request.id, call, method, args: method === 'addSteps' ? stepsByName(args) : args });
          } catch (error) {
            // Arguments that cannot be copied to the main thread (a function, a symbol...).
            calls.delete(call);
            reject(error);
          }
        });
    }
    return job;
  }

  function find(module: string, name: string): Promise<Performer> {
    const key = `${name}\n${module}`;
    let found = workers.get(key);
    if (found === undefined) {
      found = load(module, name);
      workers.set(key, found);
      found.catch(() => workers.delete(key));
    }
    return found;
  }
}

// `job.addSteps([{ worker: someWorker, ... }])` in a thread: a Worker (it holds functions) cannot
// be copied to the main thread, its name can, and names the same worker there.
function stepsByName(args: unknown[]): unknown[] {
  const [steps, ...rest] = args;
  if (!Array.isArray(steps)) return args;
  const named = steps.map((step: unknown) => {
    const worker = (step as { worker?: unknown } | null)?.worker;
    return typeof worker === 'object' && worker !== null && typeof (worker as { name?: unknown }).name === 'string'
      ? { ...(step as object), worker: (worker as { name: string }).name }
      : step;
  });
  return [named, ...rest];
}

async function load(module: string, name: string): Promise<Performer> {
  const exports = (await import(module)) as Record<string, unknown>;
  const candidates = Object.values(exports);
  // A CommonJS module's `module.exports` object arrives as the default export.
  const fallback = exports.default;
  if (typeof fallback === 'object' && fallback !== null) candidates.push(...Object.values(fallback));
  const worker = candidates.find((value): value is Performer => isPerformer(value) && value.name === name);
  if (worker === undefined) {
    throw new Error(
      `${module} exports no Worker named "${name}": a worker with a \`thread\` option must be exported by the module its thread.module names`,
    );
  }
  return worker;
}

if (parentPort !== null) serve(parentPort);
