import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatcher, requestJson } from '../../src/lib/http.js';
import { withinSendWindow } from '../../src/lib/send-window.js';
import { AccountLease, FencedError } from '../../src/store/lease.js';
import type { LeaseStore } from '../../src/store/types.js';

/**
 * A provider write leaves the process only while the lease, as last proven, cannot have
 * expired: a replica paused between its proof and its request (the monotonic clock moves on
 * while it is stopped) refuses to send when it resumes, retries included.
 */
describe('send window', () => {
  let server: Server;
  let base: string;
  const seen: string[] = [];
  let answer503 = 0;
  let onRequest: (() => void) | undefined;

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      onRequest?.();
      req.resume();
      if (answer503 > 0) {
        answer503--;
        res.writeHead(503, { 'retry-after': '1', 'content-type': 'application/json' }).end('{}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const store = { renewLease: async () => true } as unknown as LeaseStore;
  let now = 0;
  const lease = () => new AccountLease(store, 'acct', 'replica-1', 7n, 10, now, () => now);
  const dispatcher = createDispatcher({ maxRetryWaitMs: 1000 });
  const put = () => requestJson(dispatcher, { method: 'PUT', url: `${base}/subscriptions/1`, json: {}, timeoutMs: 5000, operation: 'test: PUT /subscriptions/1' });

  it('sends while the lease cannot have expired', async () => {
    seen.length = 0;
    const l = lease();
    now += 8000; // within 10 s less the 1 s margin
    const res = await withinSendWindow(l, put);
    expect(res.status).toBe(200);
    expect(seen).toEqual(['PUT /subscriptions/1']);
  });

  it('refuses to send after a pause past the lease, and says nothing was sent', async () => {
    seen.length = 0;
    const l = lease();
    now += 9500;
    const err = await withinSendWindow(l, put).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FencedError);
    expect((err as Error).message).toMatch(/nothing was sent/);
    expect(seen).toEqual([]);
  });

  it('a proof of the lease (the heartbeat, a later check) opens the window again', async () => {
    seen.length = 0;
    const l = lease();
    now += 9500;
    await l.assert();
    const res = await withinSendWindow(l, put);
    expect(res.status).toBe(200);
    expect(seen).toHaveLength(1);
  });

  it('a lease known lost sends nothing', async () => {
    seen.length = 0;
    const l = lease();
    l.lost();
    await expect(withinSendWindow(l, put)).rejects.toBeInstanceOf(FencedError);
    expect(seen).toEqual([]);
  });

  it('a retry after the window closed is not sent', async () => {
    seen.length = 0;
    const l = lease();
    answer503 = 1;
    // The pause falls between the first attempt and its retry.
    onRequest = () => (now += 20_000);
    try {
      const err = await withinSendWindow(l, put).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FencedError);
      expect(seen).toEqual(['PUT /subscriptions/1']);
    } finally {
      onRequest = undefined;
      answer503 = 0;
    }
  });

  it('requests outside any window (reads, probes) are not concerned', async () => {
    seen.length = 0;
    const res = await put();
    expect(res.status).toBe(200);
    expect(seen).toHaveLength(1);
  });
});
