import { performance } from 'node:perf_hooks';

/**
 * The one time base of a guest: the TSC, the PIT, the RTC and idle sleeps
 * all read it, so they can never disagree.
 *
 * By default it follows the host's monotonic clock, so `sleep 5` in the guest
 * takes five host seconds. With `instructionCount` set it advances a fixed
 * amount per executed instruction instead, which makes a run reproducible
 * (tests, benchmarks of the core alone).
 */
export class VirtualClock {
  private readonly startMs = performance.now();
  private instructions: (() => number) | null = null;
  /** Idle time skipped in instruction-count mode, where halting runs no instructions. */
  private idleNs = 0;

  constructor(private readonly nsPerInstruction = 0) {}

  /** In instruction-count mode, the counter the clock follows. */
  followInstructions(counter: () => number): void {
    if (this.nsPerInstruction > 0) this.instructions = counter;
  }

  get deterministic(): boolean {
    return this.nsPerInstruction > 0;
  }

  /** Nanoseconds since the guest started (a double: exact up to 104 days). */
  nowNs(): number {
    if (this.instructions) return this.instructions() * this.nsPerInstruction + this.idleNs;
    return (performance.now() - this.startMs) * 1e6;
  }

  /**
   * A halted guest waits for `deadlineNs`. Host time passes by itself; an
   * instruction-count clock would never get there, so it jumps.
   */
  idleUntil(deadlineNs: number): void {
    if (this.instructions) this.idleNs += Math.max(0, deadlineNs - this.nowNs());
  }
}
