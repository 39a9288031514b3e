import { afterAll, describe, expect, it } from 'vitest';
import { startDixaStack, type DixaStack } from '../fixtures/dixa-stack.js';

let stack: DixaStack | undefined;
afterAll(() => stack?.close());

const N = 300;
const many = (dixaUrl: string, hooks: string) =>
  `defaults:
  probe: { every: 1h }
providers:
  dixa:
    kind: dixa
    baseUrl: ${dixaUrl}
    apiToken: \${DIXA_API_TOKEN}
subscriptions:
${Array.from({ length: N }, (_, i) => `  - name: sub-${String(i).padStart(3, '0')}
    provider: dixa
    events: [ConversationCreated]
    callback: { url: "${hooks}/hooks/dixa/${i}", probe: false }`).join('\n')}
`;

describe('Dixa rate limit (10 requests per second, burst 4, per token)', () => {
  // Real time on purpose: the limit is a wall-clock rate. About 30 s.
  it(`reconciles ${N} subscriptions without a single 429 from the sandbox`, async () => {
    stack = await startDixaStack(many);
    const s = stack;
    const t0 = performance.now();
    const first = await s.app.reconciler.pass('dixa');
    const firstSeconds = (performance.now() - t0) / 1000;
    expect(first.actions.filter((a) => a.action === 'create' && a.outcome === 'succeeded')).toHaveLength(N);
    const afterFirst = Object.fromEntries(s.dixa.server.stats);
    const t1 = performance.now();
    const second = await s.app.reconciler.pass('dixa');
    const secondSeconds = (performance.now() - t1) / 1000;
    expect(second.actions.every((a) => a.action === 'none')).toBe(true);
    const total = Object.fromEntries(s.dixa.server.stats);
    expect(s.dixa.rateLimited).toBe(0);
    expect(await s.app.metrics.registry.metrics()).not.toMatch(/hookwarden_provider_rate_limited_total\{provider="dixa"\} [1-9]/);
    const pass1 = Object.values(afterFirst).reduce((a, b) => a + b, 0);
    const pass2 = Object.values(total).reduce((a, b) => a + b, 0) - pass1;
    const lists2 = (total.list ?? 0) - (afterFirst.list ?? 0);
    // Steady state: one list call per pass, whatever the number of subscriptions.
    expect(pass2).toBe(1);
    expect(lists2).toBe(1);
    console.info(
      `[dixa] ${N} subscriptions: first pass ${pass1} requests (${afterFirst.list} list = ${((100 * (afterFirst.list ?? 0)) / pass1).toFixed(1)}%) in ${firstSeconds.toFixed(1)} s ` +
        `(${(pass1 / firstSeconds).toFixed(1)} req/s); steady pass ${pass2} request (${lists2} list = 100%) in ${secondSeconds.toFixed(2)} s; 429s: ${s.dixa.rateLimited}`,
    );
  }, 120_000);
});
