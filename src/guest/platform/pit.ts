import { AccessSize, IoBus } from '../io-bus';
import { VirtualClock } from '../clock';

/** The PIT's input clock, PIT_TICK_RATE in Linux. */
export const PIT_HZ = 1193182;

/** Whole PIT ticks elapsed at virtual time `ns`. */
function tickAt(ns: number): number {
  return Math.floor((ns * PIT_HZ) / 1e9);
}

/** The first virtual time at which `tickAt` reaches `tick`. */
function nsOfTick(tick: number): number {
  let ns = Math.ceil((tick * 1e9) / PIT_HZ);
  while (tickAt(ns) < tick) ns++;
  return ns;
}

function toBcd(n: number): number {
  return (n % 10) | ((Math.floor(n / 10) % 10) << 4) | ((Math.floor(n / 100) % 10) << 8) | (Math.floor(n / 1000) << 12);
}

function fromBcd(v: number): number {
  return (v & 0xf) + ((v >> 4) & 0xf) * 10 + ((v >> 8) & 0xf) * 100 + ((v >> 12) & 0xf) * 1000;
}

const ACCESS_LATCH = 0;
const ACCESS_LO = 1;
const ACCESS_HI = 2;
const ACCESS_LOHI = 3;

/**
 * One counter of the 8254. Nothing ticks: the counter's state is a function
 * of the virtual clock, computed when the guest looks (a read, port 0x61's
 * OUT2 bit) or when the platform asks for the next interrupt. That is what
 * lets Linux's TSC calibration poll channel 2 against the same clock the
 * TSC follows.
 *
 * State is kept as "counting started at tick `start` from `reload`": the
 * count and OUT at tick t follow from t - start and the mode.
 */
class Channel {
  mode = 0;
  access = ACCESS_LOHI;
  bcd = false;
  /** N, the count the counting element (re)loads: 1..65536 (1..10000 in BCD). */
  reload = 0x10000;
  /** Counting: a count was loaded and (for modes 1 and 5) triggered. */
  running = false;
  /** Tick at which the counting element was loaded with `reload`. */
  start = 0;
  /** Modes 0 and 4 only: elapsed ticks frozen while the gate is low. */
  frozenAt: number | null = null;
  gate: boolean;
  /** Count written but not yet in the counting element (read-back "null count"). */
  nullCount = true;
  /** Modes 2/3: a count written while running takes effect at the end of the period. */
  pendingReload: number | null = null;
  pendingAt = 0;
  /** Modes 1/5: a count is loaded but waits for a gate trigger. */
  armed = false;

  private writeLow: number | null = null;
  private readHighNext = false;
  private latchedBytes: number[] = [];
  private latchedStatus: number | null = null;

  /** Rising OUT edges counted so far since `start` (channel 0 raises IRQ0 on each). */
  edgesSeen = 0;
  /** An edge from before a reload that the platform has not yet delivered. */
  edgeOwed = false;

  constructor(gate: boolean) {
    this.gate = gate;
  }

  private get modulus(): number {
    return this.bcd ? 10000 : 0x10000;
  }

  /** Applies a count written in mode 2/3 once the current period is over. */
  settle(now: number): void {
    if (this.pendingReload === null || now < this.pendingAt) return;
    if (this.edgesAt(this.pendingAt) > this.edgesSeen) this.edgeOwed = true;
    this.start = this.pendingAt;
    this.reload = this.pendingReload;
    this.pendingReload = null;
    this.nullCount = false;
    this.edgesSeen = 0;
  }

  private elapsed(now: number): number {
    // Never negative, even if the clock is swapped under a running counter.
    return this.frozenAt ?? Math.max(0, now - this.start);
  }

  /**
   * Number of rising OUT edges between `start` and tick `now`: one per
   * period in modes 2 and 3, one at terminal count otherwise (in modes 4
   * and 5 OUT rises again a tick after its low pulse; counted at TC).
   */
  edgesAt(now: number): number {
    if (!this.running) return 0;
    const d = this.elapsed(now);
    if (this.mode === 2 || this.mode === 3) return Math.floor(d / this.reload);
    return d >= this.reload ? 1 : 0;
  }

  /** Tick of the next rising edge after `edgesSeen`, or Infinity. */
  nextEdgeTick(): number {
    if (!this.running || this.frozenAt !== null) return Infinity;
    const n = this.reload;
    let next: number;
    if (this.mode === 2 || this.mode === 3) next = this.start + (this.edgesSeen + 1) * n;
    else next = this.edgesSeen === 0 ? this.start + n : Infinity;
    if (this.pendingReload !== null && this.pendingAt < next) return this.pendingAt;
    return next;
  }

  out(now: number): boolean {
    if (!this.running) {
      // Mode 0 holds OUT low from the control word until terminal count;
      // every other mode idles high.
      return this.mode !== 0;
    }
    const d = this.elapsed(now);
    const n = this.reload;
    switch (this.mode) {
      case 0:
      case 1:
        return d >= n;
      case 2:
        return !this.gate || d % n !== n - 1;
      case 3:
        return !this.gate || d % n < Math.ceil(n / 2);
      default:
        return d !== n;
    }
  }

  count(now: number): number {
    if (!this.running) return this.reload % this.modulus;
    const d = this.elapsed(now);
    const n = this.reload;
    let value: number;
    switch (this.mode) {
      case 2:
        value = n - (d % n);
        break;
      case 3:
        // Counts down by two, twice per period (the exact odd-N sequence is
        // approximated; only the period and OUT matter to software).
        value = (n - ((2 * d) % n)) & ~1;
        break;
      default:
        value = (((n - d) % this.modulus) + this.modulus) % this.modulus;
    }
    return value % this.modulus;
  }

  private status(now: number): number {
    return (
      (this.out(now) ? 0x80 : 0) |
      (this.nullCount ? 0x40 : 0) |
      (this.access << 4) |
      (this.mode << 1) |
      (this.bcd ? 1 : 0)
    );
  }

  control(value: number): void {
    this.access = (value >> 4) & 3;
    const mode = (value >> 1) & 7;
    this.mode = mode > 5 ? mode - 4 : mode;
    this.bcd = (value & 1) !== 0;
    // A control word stops the counter until a new count arrives, which is
    // how Linux's clockevent_i8253_disable() silences IRQ0.
    this.running = false;
    this.armed = false;
    this.frozenAt = null;
    this.pendingReload = null;
    this.nullCount = true;
    this.writeLow = null;
    this.readHighNext = false;
    this.latchedBytes = [];
    this.latchedStatus = null;
    this.edgesSeen = 0;
  }

  latchCount(now: number): void {
    if (this.latchedBytes.length > 0) return;
    const c = this.encode(this.count(now));
    if (this.access === ACCESS_LO) this.latchedBytes = [c & 0xff];
    else if (this.access === ACCESS_HI) this.latchedBytes = [c >> 8];
    else this.latchedBytes = [c & 0xff, c >> 8];
  }

  latchStatus(now: number): void {
    if (this.latchedStatus === null) this.latchedStatus = this.status(now);
  }

  private encode(count: number): number {
    return this.bcd ? toBcd(count) : count;
  }

  read(now: number): number {
    if (this.latchedStatus !== null) {
      const s = this.latchedStatus;
      this.latchedStatus = null;
      return s;
    }
    const latched = this.latchedBytes.shift();
    if (latched !== undefined) return latched;
    const c = this.encode(this.count(now));
    switch (this.access) {
      case ACCESS_LO:
        return c & 0xff;
      case ACCESS_HI:
        return c >> 8;
      default:
        this.readHighNext = !this.readHighNext;
        return this.readHighNext ? c & 0xff : c >> 8;
    }
  }

  write(value: number, now: number): void {
    let raw: number;
    switch (this.access) {
      case ACCESS_LO:
        raw = value;
        break;
      case ACCESS_HI:
        raw = value << 8;
        break;
      default:
        if (this.writeLow === null) {
          this.writeLow = value;
          // Mode 0: writing the first byte stops the count (OUT stays low).
          if (this.mode === 0) this.running = false;
          return;
        }
        raw = this.writeLow | (value << 8);
        this.writeLow = null;
    }
    const n = this.bcd ? fromBcd(raw) : raw;
    this.load(n === 0 ? this.modulus : n, now);
  }

  private load(n: number, now: number): void {
    if ((this.mode === 2 || this.mode === 3) && this.running && this.frozenAt === null) {
      const d = this.elapsed(now);
      this.pendingReload = n;
      this.pendingAt = this.start + (Math.floor(d / this.reload) + 1) * this.reload;
      this.nullCount = true;
      return;
    }
    this.reload = n;
    this.edgesSeen = 0;
    this.frozenAt = null;
    if (this.mode === 1 || this.mode === 5) {
      // Hardware triggered: counting waits for a rising edge on the gate.
      this.armed = true;
      this.nullCount = true;
      return;
    }
    this.nullCount = false;
    this.start = now;
    this.running = true;
    // Modes 0/4 do not count while the gate is low; 2/3 start on its rising edge.
    if (!this.gate) this.frozenAt = 0;
  }

  setGate(level: boolean, now: number): void {
    if (level === this.gate) return;
    this.gate = level;
    if (!this.running && !(this.armed && level)) return;
    switch (this.mode) {
      case 0:
      case 4:
        if (level) {
          this.start = now - (this.frozenAt ?? 0);
          this.frozenAt = null;
        } else {
          this.frozenAt = this.elapsed(now);
        }
        break;
      case 2:
      case 3:
        // Gate low holds the counter; its rising edge restarts the period.
        if (level) {
          this.start = now;
          this.edgesSeen = 0;
          this.frozenAt = null;
        } else {
          this.frozenAt = this.elapsed(now);
        }
        break;
      default:
        if (level) {
          this.start = now;
          this.running = true;
          this.nullCount = false;
          this.edgesSeen = 0;
        }
    }
  }
}

/**
 * The 8254 programmable interval timer at 0x40-0x43. Channel 0 drives
 * IRQ0 (Linux's tick, periodic in mode 2 or one-shot in mode 4); channel 2
 * is gated and read through port 0x61, which is how Linux calibrates the
 * TSC (tsc.c: pit_calibrate_tsc, quick_pit_calibrate); channel 1 (DRAM
 * refresh, long gone) is present but drives nothing.
 */
export class Pit {
  private readonly channels = [new Channel(true), new Channel(true), new Channel(false)];
  private deadline = Infinity;

  constructor(
    bus: IoBus,
    private readonly clock: VirtualClock,
    /** Raises one IRQ0 edge. */
    private readonly irq0: () => void,
  ) {
    bus.registerPorts(
      0x40,
      4,
      {
        read: (offset: number, _size: AccessSize) => this.read(offset),
        write: (offset: number, _size: AccessSize, value: number) => this.write(offset, value & 0xff),
      },
      true,
    );
    // As a BIOS leaves it: channel 0 in mode 3 with the full count, 18.2 Hz.
    const ch0 = this.channels[0];
    ch0.control(0x36);
    ch0.write(0, this.now());
    ch0.write(0, this.now());
    this.updateDeadline();
  }

  private now(): number {
    return tickAt(this.clock.nowNs());
  }

  private read(offset: number): number {
    if (offset === 3) return 0xff;
    const ch = this.channels[offset];
    const now = this.now();
    ch.settle(now);
    return ch.read(now);
  }

  private write(offset: number, value: number): void {
    const now = this.now();
    if (offset < 3) {
      const ch = this.channels[offset];
      ch.settle(now);
      ch.write(value, now);
    } else if ((value >> 6) === 3) {
      // Read-back: bit 5 clear latches counts, bit 4 clear latches status.
      for (let i = 0; i < 3; i++) {
        if (!(value & (2 << i))) continue;
        const ch = this.channels[i];
        ch.settle(now);
        if (!(value & 0x10)) ch.latchStatus(now);
        if (!(value & 0x20)) ch.latchCount(now);
      }
    } else {
      const ch = this.channels[value >> 6];
      ch.settle(now);
      if (((value >> 4) & 3) === ACCESS_LATCH) ch.latchCount(now);
      else ch.control(value);
    }
    if (offset === 0 || offset === 3) this.updateDeadline();
  }

  /** Channel 2's gate, bit 0 of port 0x61. */
  setGate2(level: boolean): void {
    const now = this.now();
    this.channels[2].settle(now);
    this.channels[2].setGate(level, now);
  }

  /** Channel 2's OUT, bit 5 of port 0x61. */
  out2(): boolean {
    const now = this.now();
    this.channels[2].settle(now);
    return this.channels[2].out(now);
  }

  /** Raises IRQ0 if channel 0 produced an edge by `ns` (several missed ticks coalesce into one, as in a real IRR). */
  update(ns: number): void {
    if (ns < this.deadline) return;
    const now = tickAt(ns);
    const ch = this.channels[0];
    ch.settle(now);
    const edges = ch.edgesAt(now);
    if (edges > ch.edgesSeen || ch.edgeOwed) {
      ch.edgesSeen = Math.max(edges, ch.edgesSeen);
      ch.edgeOwed = false;
      this.irq0();
    }
    this.updateDeadline();
  }

  private updateDeadline(): void {
    const tick = this.channels[0].nextEdgeTick();
    this.deadline = tick === Infinity ? Infinity : nsOfTick(tick);
  }

  nextDeadlineNs(): number {
    return this.deadline;
  }

  /**
   * Channel 0 repeats (modes 2 and 3): each of its edges is an interrupt the
   * guest counts, so none may come late. In the other modes it fires once,
   * for a guest that reads the clock when it does.
   */
  get periodic(): boolean {
    const mode = this.channels[0].mode;
    return mode === 2 || mode === 3;
  }
}
