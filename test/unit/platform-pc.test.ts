import assert from 'node:assert/strict';
import { IoBus } from '../../src/guest/io-bus';
import { PcPlatform, PC_KERNEL_ARGS } from '../../src/guest/platform/pc';
import { PIT_HZ } from '../../src/guest/platform/pit';
import { manualClock, ports } from './platform-helpers';

describe('platform: the PC as a whole', () => {
  function setup() {
    const bus = new IoBus();
    const time = manualClock();
    const out: number[] = [];
    let resets = 0;
    const pc = new PcPlatform(bus, time.clock, {
      serial: { write: (b) => out.push(...b) },
      reset: () => resets++,
    });
    return { bus, time, pc, out, io: ports(bus), resets: () => resets };
  }

  function linuxPicInit(io: ReturnType<typeof ports>, masterMask: number, slaveMask: number): void {
    for (const [v, p] of [[0xff, 0x21], [0x11, 0x20], [0x30, 0x21], [4, 0x21], [1, 0x21], [0x11, 0xa0], [0x38, 0xa1], [2, 0xa1], [1, 0xa1]]) {
      io.outb(v, p);
    }
    io.outb(masterMask, 0x21);
    io.outb(slaveMask, 0xa1);
  }

  it('leaves absent legacy hardware floating: COM2-4, LPT, DMA, VGA read 0xFF', () => {
    const { io } = setup();
    for (const port of [0x2f9, 0x3e9, 0x2e9, 0x378, 0x00, 0xc0, 0x3d4, 0xed, 0x80]) {
      assert.equal(io.inb(port), 0xff, `port 0x${port.toString(16)}`);
    }
    // 8250 IER test on COM2 fails, so Linux registers no ttyS1.
    io.outb(0, 0x2f9);
    assert.notEqual(io.inb(0x2f9) & 0x0f, 0);
  });

  it('sends COM1 output to the serial back end and takes input from receive()', () => {
    const { io, pc, out } = setup();
    for (const b of Buffer.from('ok')) io.outb(b, 0x3f8);
    assert.equal(Buffer.from(out).toString(), 'ok');
    pc.uart.receive(Buffer.from('y'));
    assert.equal(io.inb(0x3fd) & 1, 1);
    assert.equal(io.inb(0x3f8), 0x79);
  });

  it('delivers the periodic tick as vector 0x30 through update()', () => {
    const { io, pc, time } = setup();
    linuxPicInit(io, 0xfe, 0xff);
    const latch = Math.floor((PIT_HZ + 125) / 250);
    io.outb(0x34, 0x43);
    io.outb(latch & 0xff, 0x40);
    io.outb(latch >> 8, 0x40);
    const deadline = pc.nextDeadlineNs();
    assert.ok(Math.abs(deadline - 4e6) < 1e4, `tick due at ${deadline} ns`);
    time.advance(deadline - 1);
    pc.update();
    assert.equal(pc.intr.pending(), false);
    time.advance(1);
    pc.update();
    assert.equal(pc.intr.pending(), true);
    assert.equal(pc.intr.acknowledge(), 0x30);
    io.outb(0x60, 0x20);
    assert.ok(pc.nextDeadlineNs() > time.now());
  });

  it('delivers RTC update interrupts on IRQ8 through the cascade', () => {
    const { io, pc, time } = setup();
    linuxPicInit(io, 0xfb, 0xfe);
    io.outb(0x0c, 0x70);
    io.inb(0x71);
    io.outb(0x0b, 0x70);
    io.outb(0x12, 0x71); // UIE, 24h, BCD
    time.advance(pc.rtc.nextDeadlineNs() - time.now());
    pc.update();
    assert.equal(pc.intr.acknowledge(), 0x38);
  });

  describe('when a halted guest must be woken (timer slack)', () => {
    const TICK = Math.floor((PIT_HZ + 125) / 250);

    function pit(io: ReturnType<typeof ports>, control: number, count: number): void {
      io.outb(control, 0x43);
      io.outb(count & 0xff, 0x40);
      io.outb(count >> 8, 0x40);
    }

    it('lets a one-shot PIT (mode 4, as Linux programs its tick) fire as late as allowed', () => {
      const { io, pc } = setup();
      pit(io, 0x38, TICK);
      const due = pc.nextDeadlineNs();
      assert.ok(Math.abs(due - 4e6) < 1e4);
      assert.equal(pc.wakeDeadlineNs(20e6), 20e6);
      // Slack never brings a timer forward.
      assert.equal(pc.wakeDeadlineNs(1e6), due);
      assert.equal(pc.wakeDeadlineNs(0), due);
    });

    it('keeps a periodic PIT (modes 2 and 3) on time: each of its interrupts counts', () => {
      const { io, pc } = setup();
      for (const control of [0x34, 0x36]) {
        pit(io, control, TICK);
        assert.equal(pc.wakeDeadlineNs(20e6), pc.nextDeadlineNs());
      }
    });

    it('keeps RTC interrupts on time, even beside a one-shot PIT', () => {
      const { io, pc } = setup();
      pit(io, 0x38, 0xffff);
      io.outb(0x0b, 0x70);
      io.outb(0x42, 0x71); // PIE, 24h, BCD; register A's default rate
      const rtc = pc.rtc.nextDeadlineNs();
      assert.ok(rtc < 20e6, `RTC due at ${rtc} ns`);
      assert.equal(pc.wakeDeadlineNs(20e6), rtc);
    });

    it('has nothing to wake for when no timer is armed', () => {
      const { io, pc } = setup();
      pit(io, 0x30, 0);
      io.outb(0x30, 0x43);
      assert.equal(pc.wakeDeadlineNs(20e6), Infinity);
    });
  });

  it('has no deadline once the PIT is stopped and the RTC is quiet', () => {
    const { io, pc } = setup();
    io.outb(0x30, 0x43);
    io.outb(0, 0x40);
    io.outb(0, 0x40);
    io.outb(0x30, 0x43);
    assert.equal(pc.nextDeadlineNs(), Infinity);
  });

  it('plugs PCI devices into the host bridge', () => {
    const { pc, io } = setup();
    const slot = pc.addPciDevice({
      vendorId: 0x1af4,
      deviceId: 0x1044,
      revision: 1,
      classCode: 0xff0000,
      subsystemVendorId: 0x1af4,
      subsystemId: 0x44,
      bars: [],
      capabilities: [],
    });
    io.outl(0x80000800, 0xcf8);
    assert.equal(io.inl(0xcfc), 0x10441af4);
    assert.equal(slot.irq, 10);
  });

  it('routes every reset path to the reset callback', () => {
    const { io, resets } = setup();
    io.outb(0xfe, 0x64);
    io.outb(0x01, 0x92);
    io.outb(0x06, 0xcf9);
    assert.equal(resets(), 3);
  });

  it('names the kernel arguments it relies on', () => {
    for (const arg of ['console=ttyS0', 'acpi=off', 'noapic', 'nolapic']) {
      assert.ok(PC_KERNEL_ARGS.split(' ').includes(arg), arg);
    }
  });
});
