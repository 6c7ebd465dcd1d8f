/**
 * A clock a test moves by hand, for the HTTP client's `clock` option (and anything else that takes
 * `now()` and `sleep(ms)`): pauses end when the test says, not when real time has passed, so what a
 * test asserts never depends on the machine's speed.
 */
import type { Clock } from "../../src/http/client.js";

export class FakeClock implements Clock {
  private t: number;
  private sleepers: { until: number; wake: () => void }[] = [];
  private waiters: { count: number; done: () => void }[] = [];
  /** Every pause asked for, in ms, in order. */
  readonly pauses: number[] = [];

  /**
   * @param opts.auto  each pause ends at once, moving the clock on by its length (plus `lateMs`)
   * @param opts.lateMs  how much later than asked an automatic pause ends (a busy machine's timer)
   */
  constructor(private readonly opts: { auto?: boolean; lateMs?: number } = {}) {
    this.t = Date.UTC(2026, 0, 1);
  }

  now(): number {
    return this.t;
  }

  sleep(ms: number): Promise<void> {
    this.pauses.push(ms);
    if (this.opts.auto) {
      this.t += ms + (this.opts.lateMs ?? 0);
      return Promise.resolve();
    }
    return new Promise<void>((wake) => {
      this.sleepers.push({ until: this.t + ms, wake });
      this.waiters = this.waiters.filter((w) => {
        if (this.sleepers.length < w.count) return true;
        w.done();
        return false;
      });
    });
  }

  /** Pauses not yet over. */
  get sleeping(): number {
    return this.sleepers.length;
  }

  /** Resolves once `count` pauses are waiting for the clock. */
  untilSleeping(count: number): Promise<void> {
    if (this.sleepers.length >= count) return Promise.resolve();
    return new Promise((done) => this.waiters.push({ count, done }));
  }

  /** Moves the clock on and ends every pause that is then over. */
  advance(ms: number): void {
    this.t += ms;
    const over = this.sleepers.filter((s) => s.until <= this.t);
    this.sleepers = this.sleepers.filter((s) => s.until > this.t);
    for (const s of over) s.wake();
  }
}
