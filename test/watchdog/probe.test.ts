import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBE_FORMATS, type ProbeFormat, type TargetSpec } from '../../src/domain/types.js';
import { systemClock } from '../../src/lib/clock.js';
import { CallbackReceiver, EVENT_SHAPES } from '../../src/sandbox/receiver.js';
import { freePort } from '../../src/store/embedded.js';
import { compactUtc, PROBE_HEADER, probePayload } from '../../src/watchdog/payloads.js';
import { createProbeDispatcher, probeOnce } from '../../src/watchdog/probe.js';

const receiver = new CallbackReceiver();
const dispatcher = createProbeDispatcher();
beforeAll(async () => {
  for (const f of PROBE_FORMATS) receiver.expect(`/hooks/${f}`, f);
  await receiver.listen();
});
afterAll(async () => {
  await receiver.close();
  await dispatcher.close();
});

const spec = (over: Partial<TargetSpec>): TargetSpec => ({
  provider: 'p',
  name: 't',
  url: `${receiver.url}/hooks/axp-digital`,
  method: 'POST',
  format: 'axp-digital',
  headers: {},
  event: 'unknown',
  everySeconds: 60,
  timeoutSeconds: 1,
  policy: { unhealthyAfter: 3, disableAfterSeconds: 60, deleteAfterSeconds: 60 },
  subscriptions: [],
  ...over,
});

describe('callback probes', () => {
  it.each(PROBE_FORMATS.flatMap((format) => (['unknown', 'sample'] as const).map((event) => ({ format, event }))))(
    'a $format probe ($event event) is accepted by a receiver that checks its shape',
    async ({ format, event }) => {
      const before = receiver.count({ path: `/hooks/${format}`, probe: true });
      const r = await probeOnce(dispatcher, spec({ url: `${receiver.url}/hooks/${format}`, format, event }), systemClock);
      expect(r).toMatchObject({ ok: true, status: 200 });
      expect(receiver.count({ path: `/hooks/${format}`, probe: true })).toBe(before + 1);
    },
  );

  it('the receiver really checks: a probe in another format is refused', async () => {
    const r = await probeOnce(dispatcher, spec({ url: `${receiver.url}/hooks/mycontactcenter`, format: 'dixa' }), systemClock);
    expect(r).toMatchObject({ ok: false, status: 400, failureClass: 'http-error' });
    expect(receiver.rejected.at(-1)!.why).toMatch(/Id/);
  });

  it('marks itself as a probe, and sends the callback auth header', async () => {
    await probeOnce(dispatcher, spec({ headers: { 'X-Hook-Token': 'tok' } }), systemClock);
    const last = receiver.received.at(-1)!;
    expect(last.headers[PROBE_HEADER]).toMatch(/^[0-9a-f-]{36}$/);
    expect(last.headers['x-hook-token']).toBe('tok');
  });

  it('by default uses an event type the provider does not define', () => {
    const ids = { probeId: '3f2b8c1e-0000-4000-8000-000000000000', at: new Date('2026-03-04T05:06:07Z') };
    expect(probePayload('axp-digital', 'unknown', ids).eventType).toBe('HOOKWARDEN_PROBE');
    expect(probePayload('infinity', 'unknown', ids).eventType).toBe('Agent.HookwardenProbe');
    expect(probePayload('dixa', 'unknown', ids).event_fqn).toBe('HOOKWARDEN_PROBE');
    expect(probePayload('mycontactcenter', 'unknown', ids)).toEqual({ Id: ids.probeId, CreationDateUtc: '20260304050607', Category: 0, Code: 0 });
    expect(probePayload('mycontactcenter', 'sample', ids)).toMatchObject({ Category: 1, Code: 3, SessionType: 'CCA' });
    expect(compactUtc(new Date('2026-12-31T23:59:58.900Z'))).toBe('20261231235958');
    for (const f of PROBE_FORMATS) expect(EVENT_SHAPES[f as ProbeFormat].safeParse(probePayload(f, 'sample', ids)).success).toBe(true);
  });

  it.each([
    { name: '503 is unavailable', mode: { kind: 'status', status: 503 } as const, want: { failureClass: 'unavailable', status: 503, reason: 'HTTP 503' } },
    { name: '429 is unavailable', mode: { kind: 'status', status: 429 } as const, want: { failureClass: 'unavailable', status: 429 } },
    { name: '404 is an http error', mode: { kind: 'status', status: 404 } as const, want: { failureClass: 'http-error', status: 404 } },
    { name: 'a 201 is not a 200', mode: { kind: 'status', status: 201 } as const, want: { failureClass: 'http-error', status: 201 } },
    { name: 'a slow answer is a timeout', mode: { kind: 'slow', delayMs: 1500 } as const, want: { failureClass: 'timeout' } },
    { name: 'a dropped connection is a reset', mode: { kind: 'drop' } as const, want: { failureClass: 'connection-reset' } },
  ])('$name', async ({ mode, want }) => {
    receiver.break(mode, '/hooks/broken');
    try {
      const r = await probeOnce(dispatcher, spec({ url: `${receiver.url}/hooks/broken` }), systemClock);
      expect(r).toMatchObject({ ok: false, ...want });
      expect(r.latencyMs).toBeGreaterThanOrEqual(0);
    } finally {
      receiver.mend('/hooks/broken');
    }
  });

  it('a closed port is a refused connection', async () => {
    const port = await freePort();
    const r = await probeOnce(dispatcher, spec({ url: `http://127.0.0.1:${port}/x` }), systemClock);
    expect(r).toMatchObject({ ok: false, failureClass: 'connection-refused' });
  });
});
