import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { holding, PassSlot, Slots, withoutSlot } from '../../src/lib/slots.js';

describe('Slots', () => {
  it('hands a slot given back to a waiter first (in order), and calls onFree only when none waits', async () => {
    let freed = 0;
    const slots = new Slots(1, () => freed++);
    expect(slots.tryTake()).toBe(true);
    expect(slots.tryTake()).toBe(false);
    const order: number[] = [];
    const w1 = slots.take().then(() => order.push(1));
    const w2 = slots.take().then(() => order.push(2));
    slots.give();
    await w1;
    expect(freed).toBe(0);
    expect(slots.tryTake()).toBe(false);
    slots.give();
    await w2;
    slots.give();
    expect(order).toEqual([1, 2]);
    expect(freed).toBe(1);
    expect(slots.used).toBe(0);
  });

  it('a larger capacity lets waiters in at once; a smaller one lets nothing new in until enough are given back', async () => {
    const slots = new Slots(1);
    slots.tryTake();
    const waiter = slots.take();
    slots.resize(2);
    await waiter;
    expect(slots.used).toBe(2);
    slots.resize(1);
    slots.give();
    expect(slots.tryTake()).toBe(false);
    slots.give();
    expect(slots.tryTake()).toBe(true);
  });
});

describe('PassSlot', () => {
  it('lets go at a wait unless a task is back from one, and takes a slot again before a task goes on', async () => {
    const slots = new Slots(1);
    slots.tryTake();
    const slot = new PassSlot(slots);
    const gates = [0, 1, 2].map(() => {
      let open!: () => void;
      const p = new Promise<void>((r) => (open = r));
      return { p, open };
    });
    await holding(slot, async () => {
      // Two tasks of the pass wait: the slot goes at the first wait.
      const t1 = withoutSlot(() => gates[0]!.p);
      expect(slots.used).toBe(0);
      const t2 = withoutSlot(() => gates[1]!.p);
      // Another pass takes the freed slot; a task back from its wait must wait for it.
      expect(slots.tryTake()).toBe(true);
      gates[0]!.open();
      let back = false;
      const after1 = t1.then(() => (back = true));
      await sleep(10);
      expect(back).toBe(false);
      slots.give();
      await after1;
      expect(slots.used).toBe(1);
      // Back, t1 waits again while t2 still waits: the slot goes again.
      const t3 = withoutSlot(() => gates[2]!.p);
      expect(slots.used).toBe(0);
      gates[1]!.open();
      gates[2]!.open();
      await Promise.all([t2, t3]);
      // Both back: they share the pass's one slot.
      expect(slots.used).toBe(1);
    });
    slot.close();
    expect(slots.used).toBe(0);
  });

  it('a pass closed while a task still waits gives its slot back once, and the task takes none', async () => {
    const slots = new Slots(1);
    slots.tryTake();
    const slot = new PassSlot(slots);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const task = holding(slot, () => withoutSlot(() => gate));
    expect(slots.used).toBe(0);
    slot.close();
    slot.close();
    release();
    await task;
    expect(slots.used).toBe(0);
    expect(slots.tryTake()).toBe(true);
  });

  it('outside a pass, withoutSlot just waits', async () => {
    expect(await withoutSlot(async () => 42)).toBe(42);
  });
});
