import assert from 'node:assert/strict';
import { IoBus } from '../../src/guest/io-bus';
import { VirtualClock } from '../../src/guest/clock';
import { Rtc } from '../../src/guest/platform/rtc';
import { manualClock, ports } from './platform-helpers';

const bcd2bin = (v: number) => (v >> 4) * 10 + (v & 0xf);

describe('platform: CMOS RTC and NVRAM', () => {
  function setup(clock: VirtualClock) {
    const bus = new IoBus();
    const irq = { level: false, raised: 0 };
    const rtc = new Rtc(bus, clock, (level) => {
      if (level && !irq.level) irq.raised++;
      irq.level = level;
    });
    const io = ports(bus);
    const read = (reg: number) => {
      io.outb(reg, 0x70);
      return io.inb(0x71);
    };
    const write = (reg: number, value: number) => {
      io.outb(reg, 0x70);
      io.outb(value, 0x71);
    };
    return { rtc, irq, io, read, write };
  }

  /** mc146818_get_time(): wait out UIP, read, check the seconds did not move. */
  function getTime(read: (reg: number) => number) {
    for (;;) {
      const sec = read(0x00);
      if (read(0x0a) & 0x80) continue;
      if (sec !== read(0x00)) continue;
      const t = {
        sec,
        min: read(0x02),
        hour: read(0x04),
        mday: read(0x07),
        mon: read(0x08),
        year: read(0x09),
        ctrl: read(0x0b),
      };
      if (read(0x0a) & 0x80 || sec !== read(0x00)) continue;
      return t;
    }
  }

  /** mc146818_set_time() on an Intel box: SET and divider reset around the writes. */
  function setTime(write: (r: number, v: number) => void, read: (r: number) => number, d: Date) {
    const bcd = (n: number) => ((Math.floor(n / 10) << 4) | n % 10);
    const control = read(0x0b);
    write(0x0b, control | 0x80);
    const freq = read(0x0a);
    write(0x0a, freq | 0x70);
    write(0x09, bcd(d.getUTCFullYear() % 100));
    write(0x08, bcd(d.getUTCMonth() + 1));
    write(0x07, bcd(d.getUTCDate()));
    write(0x04, bcd(d.getUTCHours()));
    write(0x02, bcd(d.getUTCMinutes()));
    write(0x00, bcd(d.getUTCSeconds()));
    write(0x0b, control);
    write(0x0a, freq);
  }

  it('tells the host time of day (UTC, BCD, 24h) within a second', () => {
    const { read } = setup(new VirtualClock());
    const t = getTime(read);
    assert.equal(t.ctrl & 0x06, 0x02, 'BCD and 24-hour, as rtc-cmos requires');
    const rtcMs = Date.UTC(
      2000 + bcd2bin(t.year),
      bcd2bin(t.mon) - 1,
      bcd2bin(t.mday),
      bcd2bin(t.hour),
      bcd2bin(t.min),
      bcd2bin(t.sec),
    );
    assert.ok(Math.abs(rtcMs - Date.now()) <= 1500, `RTC ${new Date(rtcMs).toISOString()}`);
  });

  it('keeps time from the virtual clock after the guest sets it', () => {
    const time = manualClock();
    const { read, write } = setup(time.clock);
    setTime(write, read, new Date(Date.UTC(2031, 11, 31, 23, 59, 58)));
    let t = getTime(read);
    assert.deepEqual([t.year, t.mon, t.mday, t.hour, t.min, t.sec], [0x31, 0x12, 0x31, 0x23, 0x59, 0x58]);
    // Out of divider reset the first update comes 500 ms later, then one a second.
    time.advance(499_000_000);
    assert.equal(read(0x00), 0x58);
    time.advance(2_000_000);
    assert.equal(read(0x00), 0x59);
    time.advance(1_000_000_000);
    t = getTime(read);
    assert.deepEqual([t.year, t.mon, t.mday, t.hour, t.min, t.sec], [0x32, 0x01, 0x01, 0x00, 0x00, 0x00]);
    assert.equal(read(0x32), 0x20, 'century');
    assert.equal(read(0x06), 5, 'day of week: 1 January 2032 is a Thursday');
  });

  it('raises UIP for the 244 us before each update', () => {
    const time = manualClock();
    const { read, write } = setup(time.clock);
    setTime(write, read, new Date(Date.UTC(2024, 0, 1)));
    time.advance(500_000_000 - 300_000);
    assert.equal(read(0x0a) & 0x80, 0);
    time.advance(200_000);
    assert.equal(read(0x0a) & 0x80, 0x80);
    assert.equal(read(0x00), 0x00);
    time.advance(100_001);
    assert.equal(read(0x0a) & 0x80, 0);
    assert.equal(read(0x00), 0x01);
  });

  it('freezes while SET is up', () => {
    const time = manualClock();
    const { read, write } = setup(time.clock);
    setTime(write, read, new Date(Date.UTC(2024, 0, 1, 10, 0, 0)));
    write(0x0b, read(0x0b) | 0x80);
    time.advance(5_000_000_000);
    assert.equal(read(0x00), 0x00);
    assert.equal(read(0x0a) & 0x80, 0);
    write(0x0b, read(0x0b) & ~0x80);
    time.advance(1_000_000_000);
    assert.equal(read(0x00), 0x01);
  });

  it('speaks binary and 12-hour modes per register B', () => {
    const time = manualClock();
    const { read, write } = setup(time.clock);
    setTime(write, read, new Date(Date.UTC(2024, 6, 4, 15, 30, 45)));
    write(0x0b, 0x04); // binary, 12-hour
    assert.equal(read(0x04), 0x80 | 3, '3 PM');
    assert.equal(read(0x02), 30);
    assert.equal(read(0x00), 45);
    assert.equal(read(0x09), 24);
    write(0x0b, 0x04 | 0x80);
    write(0x04, 12); // 12 AM is midnight
    write(0x0b, 0x06); // binary, 24-hour
    assert.equal(read(0x04), 0);
    write(0x0b, 0x00); // BCD, 12-hour
    assert.equal(read(0x04), 0x12);
  });

  it('passes the rtc-cmos probe: register D valid, 1024 Hz rate, interrupts off', () => {
    const { read, write } = setup(new VirtualClock());
    assert.equal(read(0x0d), 0x80);
    write(0x0a, 0x26);
    assert.equal(read(0x0a) & 0x7f, 0x26);
    write(0x0b, read(0x0b) & ~0x70);
    read(0x0c);
    assert.equal(read(0x0b) & 0x02, 0x02);
  });

  it('raises IRQ8 for update-ended interrupts until register C is read', () => {
    const time = manualClock();
    const { rtc, irq, read, write } = setup(time.clock);
    setTime(write, read, new Date(Date.UTC(2024, 0, 1)));
    read(0x0c);
    write(0x0b, read(0x0b) | 0x10);
    const due = rtc.nextDeadlineNs();
    assert.ok(Math.abs(due - time.now() - 500_000_000) < 2);
    time.advance(due - time.now());
    rtc.update(time.now());
    assert.equal(irq.level, true);
    assert.equal(rtc.nextDeadlineNs(), Infinity, 'IRQF already up');
    // PF is set too (1024 Hz runs with PIE off), but only UF raised IRQF.
    assert.equal(read(0x0c) & 0xb0, 0x90);
    assert.equal(irq.level, false);
    assert.equal(read(0x0c) & 0xb0, 0x00);
  });

  it('raises periodic interrupts at the register A rate', () => {
    const time = manualClock();
    const { rtc, irq, read, write } = setup(time.clock);
    write(0x0a, 0x26); // 1024 Hz
    read(0x0c);
    write(0x0b, read(0x0b) | 0x40);
    for (let i = 0; i < 1024; i++) {
      time.advance(rtc.nextDeadlineNs() - time.now());
      rtc.update(time.now());
      assert.equal(read(0x0c) & 0xc0, 0xc0);
    }
    assert.equal(irq.raised, 1024);
    assert.ok(Math.abs(time.now() - 1e9) <= 1e6);
  });

  it('fires the alarm once the time matches, with 0xC0+ as a wildcard', () => {
    const time = manualClock();
    const { rtc, irq, read, write } = setup(time.clock);
    setTime(write, read, new Date(Date.UTC(2024, 0, 1, 8, 0, 0)));
    write(0x01, 0x03); // hh:mm:03
    write(0x03, 0xff);
    write(0x05, 0xff);
    read(0x0c);
    write(0x0b, read(0x0b) | 0x20);
    for (const second of [1, 2]) {
      time.advance(rtc.nextDeadlineNs() - time.now());
      rtc.update(time.now());
      assert.equal(read(0x00), second);
      assert.equal(irq.level, false);
    }
    time.advance(rtc.nextDeadlineNs() - time.now());
    rtc.update(time.now());
    assert.equal(read(0x00), 0x03);
    assert.equal(irq.level, true);
    assert.equal(read(0x0c) & 0xa0, 0xa0);
  });

  it('sets the flags for polling even with interrupts off', () => {
    const time = manualClock();
    const { irq, read } = setup(time.clock);
    read(0x0c);
    time.advance(3_000_000_000);
    assert.equal(read(0x0c) & 0x10, 0x10);
    assert.equal(irq.raised, 0);
  });

  it('keeps NVRAM bytes, ignores the NMI bit of the index, and reads 0x70 as 0xFF', () => {
    const { io, read, write } = setup(new VirtualClock());
    write(0x40, 0x5a);
    io.outb(0x80 | 0x40, 0x70);
    assert.equal(io.inb(0x71), 0x5a);
    assert.equal(read(0x10), 0, 'no floppy drives');
    assert.equal(io.inb(0x70), 0xff);
  });
});
