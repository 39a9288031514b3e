/** Time is injected everywhere: production uses the system clock, tests a manual one. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that moves only when told to; shared by tests, the sandboxes and hookwarden. */
export class ManualClock implements Clock {
  #ms: number;
  constructor(start: Date | number = Date.UTC(2026, 0, 1)) {
    this.#ms = typeof start === 'number' ? start : start.getTime();
  }
  now(): Date {
    return new Date(this.#ms);
  }
  advance(seconds: number): Date {
    this.#ms += seconds * 1000;
    return this.now();
  }
  set(at: Date): void {
    this.#ms = at.getTime();
  }
}

/** A clock running at real speed with an adjustable offset (the sandboxes' "jump ahead"). */
export class OffsetClock implements Clock {
  offsetMs = 0;
  constructor(private readonly base: Clock = systemClock) {}
  now(): Date {
    return new Date(this.base.now().getTime() + this.offsetMs);
  }
  advance(seconds: number): void {
    this.offsetMs += seconds * 1000;
  }
}
