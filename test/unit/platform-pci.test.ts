import assert from 'node:assert/strict';
import { AccessSize, BusDevice, IoBus } from '../../src/guest/io-bus';
import { Pic } from '../../src/guest/platform/pic';
import { PciHost, PCI_IO_START, PCI_MEM_START } from '../../src/guest/platform/pci-host';
import { PciDeviceSpec } from '../../src/guest/platform/pci-device';
import { ResetControlRegister } from '../../src/guest/platform/reset-control';
import { ports } from './platform-helpers';

/** A register file that records what reached it. */
class Registers implements BusDevice {
  readonly log: string[] = [];
  read(offset: number, size: AccessSize): number {
    this.log.push(`r${size}@${offset}`);
    return 0x1000 + offset;
  }
  write(offset: number, size: AccessSize, value: number): void {
    this.log.push(`w${size}@${offset}=${value.toString(16)}`);
  }
}

function virtioLike(io: Registers, mem: Registers): PciDeviceSpec {
  return {
    vendorId: 0x1af4,
    deviceId: 0x1042,
    revision: 1,
    classCode: 0x010000,
    subsystemVendorId: 0x1af4,
    subsystemId: 0x0002,
    bars: [{ kind: 'io', size: 64, device: io }, undefined, undefined, undefined, { kind: 'mem', size: 0x4000, device: mem }],
    capabilities: [
      { id: 0x09, body: Uint8Array.of(16, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0) },
      { id: 0x09, body: Uint8Array.of(16, 2, 4) },
    ],
  };
}

describe('platform: PCI host bridge (configuration mechanism #1)', () => {
  let bus: IoBus;
  let pic: Pic;
  let host: PciHost;
  let resets: number;
  let io: ReturnType<typeof ports>;

  beforeEach(() => {
    bus = new IoBus();
    pic = new Pic(bus);
    resets = 0;
    host = new PciHost(bus, pic, new ResetControlRegister(() => resets++));
    io = ports(bus);
  });

  const addr = (dev: number, reg: number, fn = 0) => (0x80000000 | (dev << 11) | (fn << 8) | (reg & 0xfc)) >>> 0;
  const cfgRead = (dev: number, reg: number, len: 1 | 2 | 4 = 4) => {
    io.outl(addr(dev, reg), 0xcf8);
    return len === 1 ? io.inb(0xcfc + (reg & 3)) : len === 2 ? io.inw(0xcfc + (reg & 2)) : io.inl(0xcfc);
  };
  const cfgWrite = (dev: number, reg: number, value: number, len: 1 | 2 | 4 = 4) => {
    io.outl(addr(dev, reg), 0xcf8);
    if (len === 1) io.outb(value, 0xcfc + (reg & 3));
    else if (len === 2) io.outw(value, 0xcfc + (reg & 2));
    else io.outl(value, 0xcfc);
  };

  it('passes pci_check_type1(): the address register reads back', () => {
    io.outb(0x01, 0xcfb);
    const tmp = io.inl(0xcf8);
    io.outl(0x80000000, 0xcf8);
    assert.equal(io.inl(0xcf8), 0x80000000);
    io.outl(tmp, 0xcf8);
  });

  it('has an i440FX-style host bridge at 00:00.0 and nothing in empty slots', () => {
    assert.equal(cfgRead(0, 0x00), 0x12378086);
    assert.equal(cfgRead(0, 0x0a, 2), 0x0600, 'PCI_CLASS_BRIDGE_HOST');
    assert.equal(cfgRead(0, 0x0e, 1), 0x00);
    assert.equal(cfgRead(5, 0x00), 0xffffffff);
    io.outl(addr(0, 0, 1), 0xcf8);
    assert.equal(io.inl(0xcfc), 0xffffffff, 'function 1 is absent');
    io.outl(0x00000000, 0xcf8);
    assert.equal(io.inl(0xcfc), 0xffffffff, 'no config cycle without the enable bit');
    io.outl(0x80010000, 0xcf8);
    assert.equal(io.inl(0xcfc), 0xffffffff, 'bus 1 is empty');
  });

  it('builds the header from the spec, with INTA# routed to a level-triggered IRQ', () => {
    const slot = host.addPciDevice(virtioLike(new Registers(), new Registers()));
    assert.equal(slot.irq, 10);
    assert.equal(cfgRead(1, 0x00), 0x10421af4);
    assert.equal(cfgRead(1, 0x08), 0x01000001);
    assert.equal(cfgRead(1, 0x2c), 0x00021af4);
    assert.equal(cfgRead(1, 0x3d, 1), 1, 'INTA#');
    assert.equal(cfgRead(1, 0x3c, 1), 10, 'PCI_INTERRUPT_LINE, which Linux trusts');
    assert.equal(io.inb(0x4d1) & 0x04, 0x04, 'IRQ10 level triggered in the ELCR');
    assert.equal(cfgRead(1, 0x04, 2) & 0x03, 0x03, 'I/O and memory decoding on, as a BIOS leaves it');
  });

  it('rotates the routed IRQ by slot', () => {
    const irqs = [1, 2, 3, 4, 5].map(() => host.addPciDevice(virtioLike(new Registers(), new Registers())).irq);
    assert.deepEqual(irqs, [10, 11, 5, 9, 10]);
  });

  it('places BARs as a BIOS would and routes accesses to the device', () => {
    const ioRegs = new Registers();
    const memRegs = new Registers();
    host.addPciDevice(virtioLike(ioRegs, memRegs));
    assert.equal(cfgRead(1, 0x10), PCI_IO_START | 1);
    assert.equal(cfgRead(1, 0x20), PCI_MEM_START);
    assert.equal(cfgRead(1, 0x14), 0, 'unimplemented BAR');
    assert.equal(bus.in(PCI_IO_START + 0x12, 2), 0x1012);
    bus.mmioWrite(PCI_MEM_START + 0x3000, 4, 0xdeadbeef);
    assert.deepEqual(ioRegs.log, ['r2@18']);
    assert.deepEqual(memRegs.log, ['w4@12288=deadbeef']);
  });

  it('answers BAR sizing as __pci_read_base() does it', () => {
    host.addPciDevice(virtioLike(new Registers(), new Registers()));
    const cmd = cfgRead(1, 0x04, 2);
    cfgWrite(1, 0x04, cmd & ~0x03, 2);
    for (const [reg, expect] of [
      [0x10, 0xffffffc1],
      [0x20, 0xffffc000],
      [0x14, 0],
      [0x30, 0],
    ] as const) {
      const orig = cfgRead(1, reg);
      cfgWrite(1, reg, reg === 0x30 ? 0xfffff800 : 0xffffffff);
      assert.equal(cfgRead(1, reg), expect, `register 0x${reg.toString(16)}`);
      cfgWrite(1, reg, orig);
      assert.equal(cfgRead(1, reg), orig);
    }
    cfgWrite(1, 0x04, cmd, 2);
    assert.equal(bus.in(PCI_IO_START, 2), 0x1000, 'the window is back');
  });

  it('stops decoding when the command register says so', () => {
    host.addPciDevice(virtioLike(new Registers(), new Registers()));
    cfgWrite(1, 0x04, 0x0002, 2);
    assert.equal(bus.in(PCI_IO_START, 4) >>> 0, 0xffffffff);
    assert.equal(bus.mmioRead(PCI_MEM_START, 4), 0x1000);
    cfgWrite(1, 0x04, 0x0001, 2);
    assert.equal(bus.in(PCI_IO_START, 4), 0x1000);
    assert.equal(bus.mmioRead(PCI_MEM_START, 4) >>> 0, 0xffffffff);
  });

  it('moves BARs the guest reprograms, and lets two BARs swap places', () => {
    const a = new Registers();
    const b = new Registers();
    host.addPciDevice(virtioLike(a, new Registers()));
    host.addPciDevice(virtioLike(b, new Registers()));
    const baseA = cfgRead(1, 0x10) & ~3;
    const baseB = cfgRead(2, 0x10) & ~3;
    assert.equal(baseB, baseA + 64);
    cfgWrite(1, 0x10, 0xd000);
    assert.equal(bus.in(baseA, 1), 0xff, 'old place released');
    bus.in(0xd004, 1);
    assert.deepEqual(a.log, ['r1@4']);
    // Swap: A onto B's address first (a transient conflict), then B onto A's old one.
    cfgWrite(1, 0x10, baseB);
    cfgWrite(2, 0x10, 0xd000);
    bus.in(baseB, 1);
    bus.in(0xd000, 1);
    assert.deepEqual(a.log, ['r1@4', 'r1@0']);
    assert.deepEqual(b.log, ['r1@0']);
  });

  it('walks the capability list from PCI_CAPABILITY_LIST', () => {
    const spec = virtioLike(new Registers(), new Registers());
    host.addPciDevice(spec);
    assert.equal(cfgRead(1, 0x06, 2) & 0x10, 0x10, 'PCI_STATUS_CAP_LIST');
    const found: { id: number; body: number[] }[] = [];
    for (let pos = cfgRead(1, 0x34, 1); pos; pos = cfgRead(1, pos + 1, 1)) {
      assert.equal(pos & 3, 0, 'capabilities are dword aligned');
      const len = spec.capabilities[found.length].body.length;
      const body = [];
      for (let i = 0; i < len; i++) body.push(cfgRead(1, pos + 2 + i, 1));
      found.push({ id: cfgRead(1, pos, 1), body });
    }
    assert.deepEqual(
      found,
      spec.capabilities.map((c) => ({ id: c.id, body: [...c.body] })),
    );
  });

  it('keeps read-only fields read-only', () => {
    host.addPciDevice(virtioLike(new Registers(), new Registers()));
    cfgWrite(1, 0x00, 0x12345678);
    assert.equal(cfgRead(1, 0x00), 0x10421af4);
    cfgWrite(1, 0x3c, 0x0303, 2);
    assert.equal(cfgRead(1, 0x3c, 2), 0x0103, 'line writable, pin not');
  });

  it('drives a shared, level-triggered INTx line as a wired OR', () => {
    const one = host.addPciDevice(virtioLike(new Registers(), new Registers()));
    [2, 3, 4].forEach(() => host.addPciDevice(virtioLike(new Registers(), new Registers())));
    const five = host.addPciDevice(virtioLike(new Registers(), new Registers()));
    assert.equal(five.irq, one.irq);
    // Linux-style PIC init with IRQ10 (and the cascade) unmasked.
    for (const [v, p] of [[0x11, 0x20], [0x30, 0x21], [4, 0x21], [1, 0x21], [0x11, 0xa0], [0x38, 0xa1], [2, 0xa1], [1, 0xa1], [0xfb, 0x21], [0xfb, 0xa1]]) {
      io.outb(v, p);
    }
    one.setIrq(true);
    five.setIrq(true);
    assert.equal(cfgRead(1, 0x06, 2) & 0x08, 0x08, 'PCI_STATUS_INTERRUPT');
    assert.equal(pic.acknowledge(), 0x30 + 10);
    io.outb(0x62, 0xa0);
    io.outb(0x62, 0x20);
    one.setIrq(false);
    assert.equal(pic.pending(), true, 'slot 5 still holds the line');
    five.setIrq(false);
    assert.equal(pic.pending(), false);
    // INTx disable keeps the pin off the line but visible in the status.
    one.setIrq(true);
    cfgWrite(1, 0x04, cfgRead(1, 0x04, 2) | 0x400, 2);
    assert.equal(pic.pending(), false);
    assert.equal(cfgRead(1, 0x06, 2) & 0x08, 0x08);
    cfgWrite(1, 0x04, cfgRead(1, 0x04, 2) & ~0x400, 2);
    assert.equal(pic.pending(), true);
  });

  it('forwards byte accesses at 0xCF9 to the reset control register', () => {
    const cf9 = io.inb(0xcf9) & ~0x0e;
    io.outb(cf9 | 2, 0xcf9);
    assert.equal(resets, 0);
    io.outb(cf9 | 0x0e, 0xcf9);
    assert.equal(resets, 1);
  });
});
