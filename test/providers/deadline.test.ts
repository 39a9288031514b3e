import { describe, expect, it } from 'vitest';
import { deadline } from '../../src/lib/deadline.js';

describe('deadline', () => {
  it('aborts after its time, and says the time ran out', async () => {
    const d = deadline(20);
    await new Promise((r) => d.signal.addEventListener('abort', r));
    expect(d.timedOut).toBe(true);
    expect((d.signal.reason as Error).name).toBe('TimeoutError');
    d.dispose();
  });

  it('aborts with its parent, which is not a timeout', () => {
    const parent = new AbortController();
    const d = deadline(60_000, parent.signal);
    parent.abort(new Error('stopping'));
    expect(d.signal.aborted).toBe(true);
    expect(d.timedOut).toBe(false);
    expect((d.signal.reason as Error).message).toBe('stopping');
    d.dispose();
  });

  it('starts aborted under an aborted parent', () => {
    const parent = new AbortController();
    parent.abort(new Error('gone'));
    expect(deadline(1000, parent.signal).signal.aborted).toBe(true);
  });

  it('once disposed, neither its timer nor its parent can abort it, and the parent holds nothing of it', async () => {
    const parent = new AbortController();
    const d = deadline(10, parent.signal);
    d.dispose();
    await new Promise((r) => setTimeout(r, 30));
    parent.abort();
    expect(d.signal.aborted).toBe(false);
  });
});
