import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { addressAllowed, guardedLookup, hostOf, type NetworkPolicy } from './url-policy.ts';

/** What the delivery log keeps of the response. */
export const EXCERPT_BYTES = 1_024;
/** Read this much of a body to keep the connection reusable; more is cut off. */
const DRAIN_BYTES = 64 * 1_024;

export interface PostResult {
  /** `null` when no response arrived. */
  statusCode: number | null;
  latencyMs: number;
  excerpt: string | null;
  error: string | null;
  retryAfter: string | undefined;
}

/** A 2xx is the only success; redirects and everything else are failed attempts. */
export function isSuccess(result: PostResult): boolean {
  return result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
}

export interface PostRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** The whole attempt ends within this, its retry on a fresh connection included. */
  timeoutMs: number;
  /** Which addresses may be connected to; checked on every connection (SSRF guard). */
  policy: NetworkPolicy;
}

/**
 * Outgoing webhook POSTs over keep-alive connections. Redirects are not followed (a 3xx
 * is a failed attempt), the whole exchange including the body, and a retry on a fresh
 * connection, has one deadline, and connections under different network policies never
 * share a pool.
 */
export class WebhookTransport {
  private readonly agents: Record<NetworkPolicy, [http.Agent, https.Agent]>;

  constructor(maxSockets = 256) {
    const options = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' as const };
    const guarded = (policy: NetworkPolicy) => ({ ...options, lookup: guardedLookup(policy) });
    this.agents = {
      any: [new http.Agent(options), new https.Agent(options)],
      private: [new http.Agent(guarded('private')), new https.Agent(guarded('private'))],
      public: [new http.Agent(guarded('public')), new https.Agent(guarded('public'))],
    };
  }

  async post(request: PostRequest): Promise<PostResult> {
    // One deadline for both tries: a worker's lease is sized for the timeout, and an attempt
    // outlasting its lease can be claimed and sent by another worker while it is still open.
    const endsBy = performance.now() + request.timeoutMs;
    const first = await this.once(request, endsBy);
    // A kept-alive connection the receiver closed just as we reused it: not the receiver's
    // fault, so try once more on a fresh connection instead of burning a scheduled attempt.
    if (first.stale && performance.now() < endsBy) return (await this.once(request, endsBy)).result;
    return first.result;
  }

  private once(request: PostRequest, endsBy: number): Promise<{ result: PostResult; stale: boolean }> {
    const started = performance.now();
    const url = new URL(request.url);
    const secure = url.protocol === 'https:';
    const latency = () => Math.round(performance.now() - started);
    const failed = (error: string) => ({
      result: { statusCode: null, latencyMs: latency(), excerpt: null, error, retryAfter: undefined },
      stale: false,
    });
    // Literal addresses skip `lookup`, so they are checked here.
    if (isIP(hostOf(url)) && !addressAllowed(hostOf(url), request.policy))
      return Promise.resolve(
        failed(
          `refused: ${hostOf(url)} is ${request.policy === 'public' ? 'not a public address' : 'a link-local address'}`,
        ),
      );

    const pool = this.agents[request.policy];
    const transport = secure ? https : http;
    return new Promise((resolve) => {
      let settled = false;
      const finish = (value: { result: PostResult; stale: boolean }) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve(value);
      };
      const req = transport.request(url, {
        method: 'POST',
        agent: secure ? pool[1] : pool[0],
        headers: { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
      });
      const deadline = setTimeout(() => {
        req.destroy();
        finish(failed(`timeout: no complete response within ${request.timeoutMs} ms`));
      }, endsBy - started);

      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        let seen = 0;
        const done = () => {
          const excerpt = Buffer.concat(chunks).toString('utf8').replaceAll('\u0000', '');
          const retryAfter = res.headers['retry-after'];
          finish({
            result: {
              statusCode: res.statusCode ?? null,
              latencyMs: latency(),
              excerpt: excerpt || null,
              error: null,
              retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
            },
            stale: false,
          });
        };
        res.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (kept < EXCERPT_BYTES) {
            const part = chunk.subarray(0, EXCERPT_BYTES - kept);
            chunks.push(part);
            kept += part.length;
          }
          if (seen > DRAIN_BYTES) {
            res.destroy();
            done();
          }
        });
        res.on('end', done);
        res.on('error', done);
        res.on('aborted', done);
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        const stale = req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE');
        const message = error.code ? `${error.code}: ${error.message}` : error.message;
        finish({ ...failed(message.slice(0, 500)), stale });
      });
      req.end(request.body);
    });
  }

  close(): void {
    for (const agent of Object.values(this.agents).flat()) agent.destroy();
  }
}
