// Fetching from the configured upstreams in order: the first that answers 200
// wins; 404 or an error moves on to the next (a lagging mirror may lack a file).
import type { CacheConfig } from './config.ts';

export interface Fetched {
  body: Buffer;
  upstream: string;
}

export class UpstreamError extends Error {
  override name = 'UpstreamError';
  constructor(
    message: string,
    readonly notFound: boolean,
  ) {
    super(message);
  }
}

export async function fetchFromUpstreams(
  config: Pick<CacheConfig, 'upstreams' | 'requestTimeoutMs'>,
  rel: string,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<Fetched> {
  const problems: string[] = [];
  let allNotFound = true;
  for (const upstream of config.upstreams) {
    const url = new URL(rel, upstream).toString();
    try {
      const body = await fetchBounded(url, maxBytes, config.requestTimeoutMs, signal);
      return { body, upstream };
    } catch (err) {
      const e = err as UpstreamError;
      if (!(e instanceof UpstreamError && e.notFound)) allNotFound = false;
      problems.push(`${url}: ${e.message}`);
      if (signal?.aborted) break;
    }
  }
  throw new UpstreamError(`no upstream served ${rel} (${problems.join('; ')})`, allNotFound);
}

async function fetchBounded(url: string, maxBytes: number, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const res = await fetch(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, redirect: 'follow' }).catch((err: Error) => {
    throw new UpstreamError(timeout.aborted ? `timed out after ${timeoutMs} ms` : (err.cause as Error)?.message ?? err.message, false);
  });
  if (res.status === 404 || res.status === 410) {
    await res.body?.cancel();
    throw new UpstreamError(`HTTP ${res.status}`, true);
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new UpstreamError(`HTTP ${res.status}`, false);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new UpstreamError(`${declared} bytes exceeds the ${maxBytes}-byte limit`, false);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.byteLength;
      if (total > maxBytes) throw new UpstreamError(`response exceeds the ${maxBytes}-byte limit`, false);
      chunks.push(Buffer.from(chunk));
    }
  } catch (err) {
    if (err instanceof UpstreamError) throw err;
    throw new UpstreamError(timeout.aborted ? `timed out after ${timeoutMs} ms` : `body: ${(err as Error).message}`, false);
  }
  const body = Buffer.concat(chunks);
  if (Number.isFinite(declared) && declared !== body.length) throw new UpstreamError(`truncated: ${body.length} of ${declared} bytes`, false);
  return body;
}
