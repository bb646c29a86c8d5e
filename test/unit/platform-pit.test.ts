import assert from 'node:assert/strict';
import { IoBus } from '../../src/guest/io-bus';
import { Pit, PIT_HZ } from '../../src/guest/platform/pit';
import { SystemControl } from '../../src/guest/platform/system-control';
import { manualClock, ports } from './platform-helpers';

const NS_PER_TICK = 1e9 / PIT_HZ;
/** Linux's PIT_LATCH for HZ=250 (Debian's 686 kernel). */
const LATCH = Math.floor((PIT_HZ + 125) / 250);

describe('platform: 8254 PIT and port 0x61', () => {
  let bus: IoBus;
  let time: ReturnType<typeof manualClock>;
  let pit: Pit;
  let irqs: number;
  let io: ReturnType<typeof ports>;

  beforeEach(() => {
    bus = new IoBus();
    time = manualClock();
    irqs = 0;
    pit = new Pit(bus, time.clock, () => irqs++);
    new SystemControl(bus, time.clock, pit);
    io = ports(bus);
  });

  /** Advances in small steps, calling update() as the run loop would. */
  function run(ns: number, step = 50_000): void {
    for (let done = 0; done < ns; done += step) {
      time.advance(Math.min(step, ns - done));
      pit.update(time.now());
    }
  }

  function latchedCount0(): number {
    io.outb(0x00, 0x43);
    return io.inb(0x40) | (io.inb(0x40) << 8);
  }

  it('ticks at 18.2 Hz as the BIOS left it until Linux reprograms it', () => {
    const period = 65536 * NS_PER_TICK;
    assert.ok(Math.abs(pit.nextDeadlineNs() - period) < 1);
    run(Math.ceil(period * 3) + 1);
    assert.equal(irqs, 3);
  });

  it('mode 2 (pit_set_periodic): one IRQ0 per LATCH ticks, counting down from LATCH', () => {
    io.outb(0x34, 0x43);
    io.outb(LATCH & 0xff, 0x40);
    io.outb(LATCH >> 8, 0x40);
    const period = LATCH * NS_PER_TICK;
    assert.ok(Math.abs(pit.nextDeadlineNs() - time.now() - period) < 1);
    time.advance(100 * NS_PER_TICK + 1);
    assert.equal(latchedCount0(), LATCH - 100);
    run(Math.ceil(period * 10) - 100 * NS_PER_TICK);
    assert.equal(irqs, 10);
  });

  it('coalesces missed periods into one IRQ, as a latched IRR would', () => {
    io.outb(0x34, 0x43);
    io.outb(LATCH & 0xff, 0x40);
    io.outb(LATCH >> 8, 0x40);
    time.advance(LATCH * NS_PER_TICK * 5 + 10);
    pit.update(time.now());
    assert.equal(irqs, 1);
    assert.ok(pit.nextDeadlineNs() > time.now());
  });

  it('mode 3: square wave, counting down by two, OUT high for the first half', () => {
    io.outb(0x36, 0x43);
    io.outb(1000 & 0xff, 0x40);
    io.outb(1000 >> 8, 0x40);
    time.advance(100 * NS_PER_TICK + 1);
    assert.equal(latchedCount0(), 1000 - 200);
    io.outb(0xe2, 0x43); // read-back: status of channel 0
    assert.equal(io.inb(0x40) & 0x80, 0x80);
    time.advance(500 * NS_PER_TICK);
    io.outb(0xe2, 0x43);
    assert.equal(io.inb(0x40) & 0x80, 0);
    run(Math.ceil(1000 * NS_PER_TICK * 4));
    assert.equal(irqs, 4);
  });

  it('mode 4 (pit_set_oneshot + pit_next_event): a single IRQ0 after the programmed delta', () => {
    io.outb(0x38, 0x43);
    io.outb(0x00, 0x40);
    io.outb(0x10, 0x40); // 4096 ticks
    const due = time.now() + 4096 * NS_PER_TICK;
    assert.ok(Math.abs(pit.nextDeadlineNs() - due) < 1);
    time.advance(Math.floor(due) - 2);
    pit.update(time.now());
    assert.equal(irqs, 0);
    run(Math.ceil(4096 * NS_PER_TICK * 3), 1000);
    assert.equal(irqs, 1);
    assert.equal(pit.nextDeadlineNs(), Infinity);
    // The next event is just another count write.
    io.outb(0x00, 0x40);
    io.outb(0x01, 0x40);
    run(Math.ceil(256 * NS_PER_TICK) + 1, 1000);
    assert.equal(irqs, 2);
  });

  it('is silenced by clockevent_i8253_disable()', () => {
    io.outb(0x34, 0x43);
    io.outb(LATCH & 0xff, 0x40);
    io.outb(LATCH >> 8, 0x40);
    io.outb(0x30, 0x43);
    io.outb(0, 0x40);
    io.outb(0, 0x40);
    io.outb(0x30, 0x43);
    assert.equal(pit.nextDeadlineNs(), Infinity);
    run(100_000_000, 1_000_000);
    assert.equal(irqs, 0);
  });

  it('holds a latched count until it is read, and reads lo then hi without a latch', () => {
    io.outb(0x34, 0x43);
    io.outb(0xff, 0x40);
    io.outb(0xff, 0x40);
    time.advance(10 * NS_PER_TICK + 1);
    io.outb(0x00, 0x43);
    time.advance(1000 * NS_PER_TICK);
    assert.equal(io.inb(0x40) | (io.inb(0x40) << 8), 0xffff - 10);
    const live = io.inb(0x40) | (io.inb(0x40) << 8);
    assert.equal(live, 0xffff - 1010);
  });

  it('supports lo-only and hi-only access modes', () => {
    io.outb(0x14, 0x43); // channel 0, LSB only, mode 2
    io.outb(200, 0x40);
    time.advance(50 * NS_PER_TICK + 1);
    assert.equal(io.inb(0x40), 150);
    io.outb(0x24, 0x43); // MSB only
    io.outb(0x02, 0x40); // 512
    time.advance(256 * NS_PER_TICK + 1);
    assert.equal(io.inb(0x40), 0x01);
  });

  it('read-back latches status then count, and reports null count until loaded', () => {
    io.outb(0xb0, 0x43); // channel 2, lo/hi, mode 0
    io.outb(0xe8, 0x43); // read-back status of channel 2
    assert.equal(io.inb(0x42), 0x40 | 0x30 | 0x00, 'OUT low, null count, lo/hi, mode 0');
    io.outb(0x01, 0x61); // gate on
    io.outb(0x00, 0x42);
    io.outb(0x01, 0x42);
    time.advance(16 * NS_PER_TICK + 1);
    io.outb(0xc8, 0x43); // read-back status and count of channel 2
    assert.equal(io.inb(0x42), 0x30);
    assert.equal(io.inb(0x42) | (io.inb(0x42) << 8), 256 - 16);
  });

  it('counts BCD when asked', () => {
    io.outb(0x35, 0x43); // mode 2, BCD
    io.outb(0x00, 0x40);
    io.outb(0x10, 0x40); // 1000 decimal
    time.advance(1 * NS_PER_TICK + 1);
    assert.equal(latchedCount0(), 0x0999);
  });

  it('does not count channel 2 while its gate (port 0x61 bit 0) is low', () => {
    io.outb(0x00, 0x61);
    io.outb(0xb0, 0x43);
    io.outb(0x00, 0x42);
    io.outb(0x10, 0x42);
    time.advance(10_000_000);
    assert.equal(io.inb(0x61) & 0x20, 0);
    io.outb(0x01, 0x61);
    time.advance(4096 * NS_PER_TICK + 1);
    assert.equal(io.inb(0x61) & 0x20, 0x20);
    assert.equal(io.inb(0x61) & 0x0f, 0x01);
  });

  it('toggles the refresh bit (port 0x61 bit 4) as time passes', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 8; i++) {
      seen.add(io.inb(0x61) & 0x10);
      time.advance(15_085);
    }
    assert.deepEqual([...seen].sort(), [0, 0x10]);
  });

  /**
   * A stand-in for the CPU running the calibration code: every port access
   * and every rdtsc costs some instructions, and with the clock at 1 ns per
   * instruction the TSC (one cycle per instruction) runs at 1 GHz.
   */
  function cpu() {
    return {
      inb: (port: number) => {
        time.advance(7);
        return io.inb(port);
      },
      outb: (value: number, port: number) => {
        time.advance(7);
        io.outb(value, port);
      },
      rdtsc: () => {
        time.advance(3);
        return time.now();
      },
    };
  }

  it('lets pit_calibrate_tsc() measure the TSC', () => {
    const c = cpu();
    const ms = 10;
    const latch = Math.floor(PIT_HZ / (1000 / ms));
    c.outb((c.inb(0x61) & ~0x02) | 0x01, 0x61);
    c.outb(0xb0, 0x43);
    c.outb(latch & 0xff, 0x42);
    c.outb(latch >> 8, 0x42);
    let tsc = c.rdtsc();
    const t1 = tsc;
    let t2 = tsc;
    let pitcnt = 0;
    let tscmin = Infinity;
    let tscmax = 0;
    while ((c.inb(0x61) & 0x20) === 0) {
      t2 = c.rdtsc();
      const delta = t2 - tsc;
      tsc = t2;
      tscmin = Math.min(tscmin, delta);
      tscmax = Math.max(tscmax, delta);
      pitcnt++;
    }
    assert.ok(pitcnt >= 1000, `loopmin: ${pitcnt}`);
    assert.ok(tscmax <= 10 * tscmin);
    const khz = (t2 - t1) / ms;
    assert.ok(Math.abs(khz - 1_000_000) / 1_000_000 < 0.001, `calibrated ${khz} kHz`);
  });

  it('lets quick_pit_calibrate() succeed', () => {
    const c = cpu();
    const MAX_ITERATIONS = Math.floor((50 * PIT_HZ) / 1000 / 256);
    const verifyMsb = (val: number) => {
      c.inb(0x42);
      return c.inb(0x42) === val;
    };
    const expectMsb = (val: number): { ok: boolean; tsc: number; d: number } => {
      let count = 0;
      let tsc = 0;
      let prev = 0;
      for (; count < 50000; count++) {
        if (!verifyMsb(val)) break;
        prev = tsc;
        tsc = c.rdtsc();
      }
      return { ok: count > 5, tsc, d: c.rdtsc() - prev };
    };

    c.outb((c.inb(0x61) & ~0x02) | 0x01, 0x61);
    c.outb(0xb0, 0x43);
    c.outb(0xff, 0x42);
    c.outb(0xff, 0x42);
    verifyMsb(0);
    const first = expectMsb(0xff);
    assert.ok(first.ok, 'saw MSB 0xff');
    let khz = 0;
    for (let i = 1; i <= MAX_ITERATIONS; i++) {
      const next = expectMsb(0xff - i);
      assert.ok(next.ok, `saw MSB ${0xff - i}`);
      const delta = next.tsc - first.tsc;
      assert.ok(first.d + next.d < (delta * MAX_ITERATIONS) / 2048);
      if (first.d + next.d >= delta / 2048) continue;
      assert.ok(verifyMsb(0xfe - i));
      khz = (delta * PIT_HZ) / (i * 256 * 1000);
      break;
    }
    assert.ok(Math.abs(khz - 1_000_000) / 1_000_000 < 0.001, `calibrated ${khz} kHz`);
  });
});
