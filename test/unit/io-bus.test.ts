import { strict as assert } from 'node:assert';
import { AccessSize, BusDevice, IoBus } from '../../src/guest/io-bus';

function recorder(value: number): BusDevice & { writes: [number, number, number][] } {
  const writes: [number, number, number][] = [];
  return {
    writes,
    read: (offset: number, size: AccessSize) => value + offset + size * 0x100,
    write: (offset: number, size: AccessSize, v: number) => void writes.push([offset, size, v]),
  };
}

describe('IoBus', () => {
  it('reads all ones and drops writes where no device answers, as a PC bus does', () => {
    const bus = new IoBus();
    assert.equal(bus.in(0x2f8, 1), 0xff);
    assert.equal(bus.in(0x2f8, 2), 0xffff);
    assert.equal(bus.in(0x2f8, 4), 0xffffffff);
    assert.equal(bus.mmioRead(0xfe000000, 4), 0xffffffff);
    bus.out(0x2f8, 1, 0x12);
    bus.mmioWrite(0xfe000000, 4, 0x12);
  });

  it('hands a device offsets relative to the start of its range', () => {
    const bus = new IoBus();
    const dev = recorder(0x10);
    bus.registerPorts(0x3f8, 8, dev);
    assert.equal(bus.in(0x3fd, 1), 0x10 + 5 + 0x100);
    bus.out(0x3f9, 2, 0xabcd);
    assert.deepEqual(dev.writes, [[1, 2, 0xabcd]]);
    const mmio = recorder(0x20);
    bus.registerMmio(0xe0000000, 0x4000, mmio);
    assert.equal(bus.mmioRead(0xe0001004, 4), 0x20 + 0x1004 + 0x400);
    bus.mmioWrite(0xe0003ffc, 1, 7);
    assert.deepEqual(mmio.writes, [[0x3ffc, 1, 7]]);
  });

  it('counts accesses to devices, but not to background ones (timers, interrupt controllers)', () => {
    const bus = new IoBus();
    bus.registerPorts(0x40, 4, recorder(0), true);
    bus.registerPorts(0x3f8, 8, recorder(0));
    bus.registerMmio(0xe0000000, 0x1000, recorder(0));
    bus.out(0x43, 1, 0x38);
    bus.in(0x40, 1);
    bus.in(0x2f8, 1);
    assert.equal(bus.activity, 0, 'background and unclaimed ports');
    bus.out(0x3f8, 1, 0x41);
    bus.in(0x3fd, 1);
    bus.mmioWrite(0xe0000010, 4, 1);
    bus.mmioRead(0xe0000010, 4);
    assert.equal(bus.activity, 4);
  });

  it('refuses two devices on one port or overlapping MMIO windows', () => {
    const bus = new IoBus();
    bus.registerPorts(0x60, 1, recorder(0));
    assert.throws(() => bus.registerPorts(0x5f, 2, recorder(0)), /port 0x60 is already claimed/);
    bus.registerMmio(0xe0000000, 0x1000, recorder(0));
    assert.throws(() => bus.registerMmio(0xe0000800, 0x1000, recorder(0)), /overlaps/);
  });

  it('frees a range on unregister, however often a device moves (BAR reprogramming)', () => {
    const bus = new IoBus();
    const dev = recorder(0x40);
    for (let i = 0; i < 70_000; i++) {
      const base = 0xc000 + (i % 16) * 0x40;
      bus.registerPorts(base, 0x40, dev);
      assert.equal(bus.in(base, 1), 0x140);
      bus.unregisterPorts(dev);
      assert.equal(bus.in(base, 1), 0xff);
    }
    bus.unregisterMmio(dev);
  });
});
