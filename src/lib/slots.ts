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
 * One pass's hold on a slot. The pass starts holding it and lets go while it waits on its
 * provider (see withoutSlot), so that an account throttled to 10 requests a second does not
 * keep other accounts from running: with every slot held by throttled accounts, a first start
 * over many Dixa accounts crawled at 10 requests a second per slot while the rest waited.
 *
 * What counts is the pass's flows at work: the pass itself and each task it runs side by
 * side (defaults.actionConcurrency; see inTask), from its start to its end, except while it
 * waits in withoutSlot. The slot goes when none is at work; a flow that starts or comes back
 * from a wait goes on only once the pass holds a slot again (taken ahead of passes not yet
 * started). The flows of one pass share its one slot.
 */
export class PassSlot {
  #working = 1;
  #held = true;
  #taking: Promise<void> | undefined;
  #closed = false;

  constructor(private readonly slots: Slots) {}

  /** Waits for `wait` as a flow not at work. */
  async idle<T>(wait: () => Promise<T>): Promise<T> {
    this.#stop();
    try {
      return await wait();
    } finally {
      await this.#start();
    }
  }

  /** Runs `fn` as a flow of its own (a task run side by side): at work from now until it ends. */
  async task<T>(fn: () => Promise<T>): Promise<T> {
    await this.#start();
    try {
      return await fn();
    } finally {
      this.#stop();
    }
  }

  /** The pass is over: its slot goes back (a flow still waiting then takes none). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#held) this.#let();
  }

  #stop(): void {
    this.#working--;
    if (this.#working === 0 && this.#held) this.#let();
  }

  /** Counted at once (synchronously), so that a task started right after still sees the slot held. */
  async #start(): Promise<void> {
    this.#working++;
    while (!this.#closed && !this.#held) await (this.#taking ??= this.#take());
  }

  #let(): void {
    this.#held = false;
    this.slots.give();
  }

  async #take(): Promise<void> {
    await this.slots.take();
    this.#taking = undefined;
    this.#held = true;
    // Closed, or every flow went back to waiting, while the slot was on its way.
    if (this.#closed || this.#working === 0) this.#let();
  }
}

const current = new AsyncLocalStorage<PassSlot>();

/** Runs `fn` (a pass) holding `slot`: the waits it makes through withoutSlot let the slot go. */
export function holding<T>(slot: PassSlot, fn: () => Promise<T>): Promise<T> {
  return current.run(slot, fn);
}

/**
 * Waits for `wait` without holding the pass's slot: for waits that use neither CPU nor
 * Postgres (a provider's rate limit and the request behind it, a retry's delay, the pass's
 * own tasks). Outside a pass it just waits.
 */
export function withoutSlot<T>(wait: () => Promise<T>): Promise<T> {
  const slot = current.getStore();
  return slot ? slot.idle(wait) : wait();
}

/** Runs `fn` as a task of the current pass (one of those run side by side); outside a pass it just runs it. */
export function inTask<T>(fn: () => Promise<T>): Promise<T> {
  const slot = current.getStore();
  return slot ? slot.task(fn) : fn();
}
