// Waiting for a condition with a deadline, shared by the executor (running jobs) and the
// completer (pending acks) during stop().

/** Resolves true when `register`'s callback is called, or false after `ms`; clears its timer. */
export async function waitWithDeadline(register: (done: () => void) => void, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<boolean>((resolve) => register(() => resolve(true)));
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
