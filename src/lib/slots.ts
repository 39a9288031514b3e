import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The slots of `defaults.concurrency`: how many reconcile passes do work (CPU, Postgres) at
 * once. A counting semaphore whose capacity a reload may change. A slot given back goes first
 * to a pass waiting to resume (in order), and only then to `onFree`, which starts new passes.
 */
export class Slots {
  #used = 0;
  readonly #waiters: (() => void)[] = [];

  constructor(
    private capacity: number,
    private readonly onFree: () => void = () => {},
  ) {}

  /** Slots in use. */
  get used(): number {
    return this.#used;
  }

  /** Takes a slot if one is free and no resuming pass waits for one. */
  tryTake(): boolean {
    if (this.#waiters.length || this.#used >= Math.max(1, this.capacity)) return false;
    this.#used++;
    return true;
  }

  /** A slot, as soon as one is free (after those asked for before). */
  take(): Promise<void> {
    if (this.tryTake()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  give(): void {
    this.#used = Math.max(0, this.#used - 1);
    this.#drain();
  }

  resize(capacity: number): void {
    this.capacity = capacity;
    this.#drain();
  }

  #drain(): void {
    while (this.#waiters.length && this.#used < Math.max(1, this.capacity)) {
      this.#used++;
      this.#waiters.shift()!();
    }
    if (!this.#waiters.length && this.#used < Math.max(1, this.capacity)) this.onFree();
  }
}

/**
 * One pass's hold on a slot. The pass starts holding it and lets go while it waits on a
 * provider's pace (see withoutSlot), so that an account throttled to 10 requests a second does
 * not keep other accounts from running: with every slot held by throttled accounts, a first
 * start over many Dixa accounts crawled at 10 requests a second per slot while the rest
 * waited. A task that is done waiting takes a slot again before going on.
 *
 * The pass's tasks run side by side (defaults.actionConcurrency) and only their waits are
 * seen: the slot goes at a wait unless a task came back from one and has not started another
 * since; the pass before its first wait counts as one such task. The tasks of one pass that
 * are back share its one slot.
 */
export class PassSlot {
  /** Tasks back from a wait (or the pass before any wait) that have not started another. */
  #active = 1;
  #held = true;
  #taking: Promise<void> | undefined;
  #closed = false;

  constructor(private readonly slots: Slots) {}

  async idle<T>(wait: () => Promise<T>): Promise<T> {
    if (this.#active > 0) this.#active--;
    if (this.#active === 0 && this.#held) this.#let();
    try {
      return await wait();
    } finally {
      this.#active++;
      if (!this.#closed && !this.#held) await (this.#taking ??= this.#take());
    }
  }

  /** The pass is over: its slot goes back (a task still waiting then takes none). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#held) this.#let();
  }

  #let(): void {
    this.#held = false;
    this.slots.give();
  }

  async #take(): Promise<void> {
    await this.slots.take();
    this.#taking = undefined;
    this.#held = true;
    // Closed, or every task went back to waiting, while the slot was on its way.
    if (this.#closed || this.#active === 0) this.#let();
  }
}

const current = new AsyncLocalStorage<PassSlot>();

/** Runs `fn` (a pass) holding `slot`: the waits it makes through withoutSlot let the slot go. */
export function holding<T>(slot: PassSlot, fn: () => Promise<T>): Promise<T> {
  return current.run(slot, fn);
}

/**
 * Waits for `wait` without holding the pass's slot: for waits that use neither CPU nor
 * Postgres, such as a provider's rate limit. Outside a pass it just waits.
 */
export function withoutSlot<T>(wait: () => Promise<T>): Promise<T> {
  const slot = current.getStore();
  return slot ? slot.idle(wait) : wait();
}
