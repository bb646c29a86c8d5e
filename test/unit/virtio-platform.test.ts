import { strict as assert } from 'node:assert';
import { VirtualClock } from '../../src/guest/clock';
import { AccessSize, BusDevice, IoBus } from '../../src/guest/io-bus';
import { GuestMemory } from '../../src/guest/memory';
import { PcPlatform } from '../../src/guest/platform/pc';
import { VirtioRng } from '../../src/guest/virtio/rng';
import { VirtioPciFunction } from '../../src/guest/virtio/transport';
import { hostEntropy } from '../../src/launcher/devices/rng';
import { F_VERSION_1, FakeDriver } from './virtio-driver';

/** Configuration mechanism #1, as Linux's pci_conf1 uses it. */
function configRead(bus: IoBus, slot: number, reg: number, size: AccessSize): number {
  bus.out(0xcf8, 4, (0x80000000 | (slot << 11) | (reg & 0xfc)) >>> 0);
  return bus.in(0xcfc + (reg & 3), size);
}

function configWrite(bus: IoBus, slot: number, reg: number, size: AccessSize, value: number): void {
  bus.out(0xcf8, 4, (0x80000000 | (slot << 11) | (reg & 0xfc)) >>> 0);
  bus.out(0xcfc + (reg & 3), size, value);
}

describe('virtio on the PC platform', () => {
  it('is found, configured and interrupts through the real PCI host bridge', () => {
    const bus = new IoBus();
    const pc = new PcPlatform(bus, new VirtualClock(), { serial: { write: () => undefined }, reset: () => undefined });
    const mem = new GuestMemory(new ArrayBuffer(1 << 20));
    const fn = new VirtioPciFunction(mem, new VirtioRng(hostEntropy));
    const slot = pc.addPciDevice(fn.spec);
    fn.attach(slot);

    // Find it the way virtio_pci does: IDs, then the vendor capabilities.
    const dev = 1;
    assert.equal(configRead(bus, dev, 0x00, 2), 0x1af4);
    assert.equal(configRead(bus, dev, 0x02, 2), 0x1044);
    assert.equal(configRead(bus, dev, 0x08, 1), 1, 'revision');
    assert.ok(configRead(bus, dev, 0x06, 2) & 0x10, 'capability list');
    const found = new Map<number, { bar: number; offset: number; length: number; mult: number }>();
    for (let pos = configRead(bus, dev, 0x34, 1); pos !== 0; pos = configRead(bus, dev, pos + 1, 1)) {
      assert.equal(configRead(bus, dev, pos, 1), 0x09);
      found.set(configRead(bus, dev, pos + 3, 1), {
        bar: configRead(bus, dev, pos + 4, 1),
        offset: configRead(bus, dev, pos + 8, 4),
        length: configRead(bus, dev, pos + 12, 4),
        mult: configRead(bus, dev, pos + 16, 4),
      });
    }
    assert.deepEqual([...found.keys()].sort(), [1, 2, 3], 'common, notify, ISR; no device config for rng');
    assert.equal(found.get(2)!.mult, 4, 'notify_off_multiplier');
    const bar = found.get(1)!.bar;
    const base = (configRead(bus, dev, 0x10 + 4 * bar, 4) & ~0xf) >>> 0;
    assert.ok(base !== 0, 'the BIOS-like host bridge placed the BAR');
    configWrite(bus, dev, 0x04, 2, configRead(bus, dev, 0x04, 2) | 0x6);

    // Drive it over MMIO through the bus, as the CPU would.
    const viaBus: BusDevice = {
      read: (o, s) => bus.mmioRead(base + o, s),
      write: (o, s, v) => bus.mmioWrite(base + o, s, v),
    };
    const drv = new FakeDriver(mem, fn, viaBus);
    const [q] = drv.start(F_VERSION_1, 1);
    q.add([{ addr: 0x80000, len: 16, write: true }]);
    q.kick();
    assert.deepEqual(q.takeUsed(), [{ id: 0, len: 16 }]);
    assert.ok(configRead(bus, dev, 0x06, 2) & 0x08, 'INTx is asserted');
    assert.equal(configRead(bus, dev, 0x3c, 1), slot.irq, 'the interrupt line register names the routed IRQ');
    assert.equal(drv.readIsr(), 1);
    assert.equal(configRead(bus, dev, 0x06, 2) & 0x08, 0, 'reading the ISR deasserted it');
  });
});
