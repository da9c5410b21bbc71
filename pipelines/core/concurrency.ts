// The one place that awaits a batch: p-limit with a global limit and a per-key
// (per-host) limit; every task is settled, the queue is cleared on abort.
import pLimit, { type LimitFunction } from 'p-limit';

export type Settled<T> = { ok: true; value: T } | { ok: false; error: Error };

export interface MapLimitedOptions<I> {
  concurrency: number;
  /** Optional per-key limit, e.g. per host. */
  perKey?: { limit: number; keyOf(item: I): string };
  signal?: AbortSignal;
}

export async function mapLimited<I, O>(
  items: readonly I[],
  opts: MapLimitedOptions<I>,
  fn: (item: I, index: number) => Promise<O>,
): Promise<Settled<O>[]> {
  const global = pLimit(opts.concurrency);
  const perKey = new Map<string, LimitFunction>();
  const onAbort = () => global.clearQueue();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const keyLimit = (item: I): LimitFunction | undefined => {
    if (!opts.perKey) return undefined;
    const key = opts.perKey.keyOf(item);
    let limit = perKey.get(key);
    if (!limit) perKey.set(key, (limit = pLimit(opts.perKey.limit)));
    return limit;
  };
  const settle = async (item: I, index: number): Promise<Settled<O>> => {
    if (opts.signal?.aborted) return { ok: false, error: new Error('cancelled') };
    try {
      return { ok: true, value: await fn(item, index) };
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
    }
  };
  try {
    // Each task waits for its per-key slot first, then the global slot, so a busy
    // host never occupies global slots while it queues.
    const tasks = items.map((item, index) => {
      const byKey = keyLimit(item);
      const inGlobal = () => global(() => settle(item, index));
      return byKey ? byKey(inGlobal) : inGlobal();
    });
    const results: Settled<O>[] = [];
    for (const task of tasks) {
      // clearQueue() leaves cleared tasks pending forever; a race with abort ends them.
      results.push(await raceAbort(task, opts.signal));
    }
    return results;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

function raceAbort<T>(task: Promise<Settled<T>>, signal?: AbortSignal): Promise<Settled<T>> {
  if (!signal) return task;
  if (signal.aborted) return Promise.race([task, Promise.resolve<Settled<T>>({ ok: false, error: new Error('cancelled') })]);
  return new Promise((resolve) => {
    const onAbort = () => resolve({ ok: false, error: new Error('cancelled') });
    signal.addEventListener('abort', onAbort, { once: true });
    task.then((r) => {
      signal.removeEventListener('abort', onAbort);
      resolve(r);
    });
  });
}
