import { afterEach, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../fixtures/stack.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

describe('reconcile against the Infinity sandbox', () => {
  it('creates each declared subscription once, then finds nothing to do', async () => {
    stack = await startStack({ subs: [{ name: 'agents' }, { name: 'interactions', family: ['INTERACTION'], events: ['Interaction.Created'] }] });
    const [first] = await stack.app.scheduler.tick();
    expect(first!.actions.map((a) => [a.name, a.action, a.outcome])).toEqual([
      ['agents', 'create', 'succeeded'],
      ['interactions', 'create', 'succeeded'],
    ]);
    expect(stack.sandbox.subscriptions('client-a')).toHaveLength(2);
    const again = await stack.app.reconciler.pass('infinity');
    expect(again.actions.map((a) => a.action)).toEqual(['none', 'none']);
    const rows = await stack.app.store.listSubscriptions();
    expect(rows.map((r) => [r.name, r.state, r.owned, r.lifetimeSeconds])).toEqual([
      ['agents', 'active', true, 20],
      ['interactions', 'active', true, 20],
    ]);
  });
});
