// One error type for every network edge (http, rsync, ftp, dns): the crawler turns
// it into a per-mirror Failure, so it carries the failure kind and the URL.
import type { FailureKind } from '../core/types.ts';

export class NetError extends Error {
  override name = 'NetError';
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly url?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Maps a Node/system error to a failure kind and a short message. */
export function classifyNetError(err: unknown, url?: string): NetError {
  if (err instanceof NetError) return err;
  const e = err as NodeJS.ErrnoException & { code?: string };
  const code = e?.code ?? '';
  const msg = e?.message ?? String(err);
  if (code === 'ECONNREFUSED') return new NetError('refused', `connection refused${where(url)}`, url, { cause: err });
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ENODATA' || code === 'ESERVFAIL') return new NetError('dns', `name does not resolve (${code})${where(url)}`, url, { cause: err });
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return new NetError('timeout', `timed out${where(url)}`, url, { cause: err });
  if (code === 'ABORT_ERR' || e?.name === 'AbortError') return new NetError('cancelled', `cancelled${where(url)}`, url, { cause: err });
  if (code === 'ECONNRESET' || code === 'EPIPE' || code.startsWith('HPE_') || code === 'ERR_STREAM_PREMATURE_CLOSE')
    return new NetError('protocol', `${code === 'ECONNRESET' ? 'connection reset' : code}${where(url)}: ${firstLine(msg)}`, url, { cause: err });
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EADDRNOTAVAIL') return new NetError('refused', `${code}${where(url)}`, url, { cause: err });
  return new NetError('other', `${firstLine(msg)}${where(url)}`, url, { cause: err });
}

function where(url?: string): string {
  return url ? ` (${url})` : '';
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? s).slice(0, 200);
}

/** Aborts when either the caller's signal fires or `ms` passes; call dispose() when done. */
export function deadline(ms: number, signal?: AbortSignal): { signal: AbortSignal; timedOut(): boolean; dispose(): void } {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new NetError('timeout', `timed out after ${ms} ms`));
  }, ms);
  timer.unref?.();
  const onAbort = () => controller.abort(signal?.reason ?? new NetError('cancelled', 'cancelled'));
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    dispose() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}
