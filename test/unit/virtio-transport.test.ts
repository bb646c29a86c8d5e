import { strict as assert } from 'node:assert';
import { GuestMemory } from '../../src/guest/memory';
import { VirtioPciFunction } from '../../src/guest/virtio/transport';
import {
  ACK, C, DRIVER, DRIVER_OK, FEATURES_OK, F_EVENT_IDX, F_INDIRECT, F_VERSION_1, FakeDriver, Recorder, guestError,
} from './virtio-driver';

function setup(): { mem: GuestMemory; dev: Recorder; fn: VirtioPciFunction; drv: FakeDriver } {
  const mem = new GuestMemory(new ArrayBuffer(1 << 20));
  const dev = new Recorder();
  const fn = new VirtioPciFunction(mem, dev);
  return { mem, dev, fn, drv: new FakeDriver(mem, fn) };
}

describe('virtio PCI transport', () => {
  it('describes a modern virtio device with the four capabilities in one memory BAR', () => {
    const { fn, drv } = setup();
    assert.equal(fn.spec.vendorId, 0x1af4);
    assert.equal(fn.spec.deviceId, 0x1044);
    assert.equal(fn.spec.revision, 1);
    assert.equal(fn.spec.subsystemVendorId, 0x1af4);
    assert.deepEqual(fn.spec.bars.filter((b) => b).map((b) => [b!.kind, b!.size]), [['mem', 0x4000]]);
    for (const cap of fn.spec.capabilities) {
      assert.equal(cap.id, 0x09);
      assert.equal(cap.body[0], cap.body.length + 2, 'cap_len counts the ID and next bytes');
    }
    assert.equal(drv.common.length, 0x38);
    assert.equal(drv.isr.length, 1);
    assert.equal(drv.notify.multiplier, 4);
    assert.ok(drv.notify.length >= 4 + 2, 'queue 1 notify address is inside the region');
    assert.equal(drv.device?.length, 6);
    assert.equal(drv.readConfig(0, 4), 0x44332211);
    assert.equal(drv.readConfig(4, 2), 0x6655);
    assert.equal(drv.readConfig(5, 1), 0x66);
    assert.equal(drv.readConfig(6, 4), 0, 'past the configuration reads as zero');
  });

  it('offers VERSION_1, indirect descriptors and event index besides the device features', () => {
    const { drv } = setup();
    assert.equal(drv.deviceFeatures(), F_VERSION_1 | F_EVENT_IDX | F_INDIRECT | (1n << 3n));
    drv.wc(C.DFSELECT, 4, 7);
    assert.equal(drv.rc(C.DF, 4), 0);
    assert.equal(drv.rc(C.NUMQ, 2), 2);
    assert.equal(drv.rc(C.MSIX, 2), 0xffff);
    drv.wc(C.MSIX, 2, 0);
    assert.equal(drv.rc(C.MSIX, 2), 0xffff, 'without MSI-X no vector can be assigned');
    drv.wc(C.QSELECT, 2, 1);
    assert.equal(drv.rc(C.QMSIX, 2), 0xffff);
    assert.equal(drv.rc(C.QSIZE, 2), 8);
    assert.equal(drv.rc(C.QNOTIFYOFF, 2), 1);
    drv.wc(C.QSELECT, 2, 9);
    assert.equal(drv.rc(C.QSIZE, 2), 0, 'a queue that does not exist has size 0');
  });

  it('accepts the features a driver asks for, and tells the device at DRIVER_OK', () => {
    const { drv, dev } = setup();
    assert.ok(drv.negotiate(F_VERSION_1 | F_EVENT_IDX | (1n << 3n)));
    assert.equal(drv.status(), ACK | DRIVER | FEATURES_OK);
    drv.wc(C.GFSELECT, 4, 1);
    assert.equal(drv.rc(C.GF, 4), 1, 'driver features read back');
    drv.setupQueue(0, 0x10000);
    drv.setupQueue(1, 0x20000);
    drv.enableQueue(0);
    drv.enableQueue(1);
    assert.deepEqual(dev.activations, []);
    drv.addStatus(DRIVER_OK);
    assert.deepEqual(dev.activations, [F_VERSION_1 | F_EVENT_IDX | (1n << 3n)]);
    assert.equal(dev.queues[0].eventIdx, true);
    assert.deepEqual(dev.notified, [0, 1], 'DRIVER_OK looks at every enabled queue');
  });

  it('refuses FEATURES_OK without VERSION_1 or with a feature it never offered', () => {
    let { drv } = setup();
    assert.equal(drv.negotiate(F_EVENT_IDX), false);
    assert.equal(drv.status() & FEATURES_OK, 0);
    ({ drv } = setup());
    drv.wc(C.STATUS, 1, ACK | DRIVER);
    drv.writeFeatures(F_VERSION_1 | (1n << 5n));
    drv.addStatus(FEATURES_OK);
    assert.equal(drv.status() & FEATURES_OK, 0);
    ({ drv } = setup());
    drv.wc(C.STATUS, 1, ACK | DRIVER);
    drv.writeFeatures(F_VERSION_1);
    drv.wc(C.GFSELECT, 4, 2);
    drv.wc(C.GF, 4, 1);
    drv.addStatus(FEATURES_OK);
    assert.equal(drv.status() & FEATURES_OK, 0, 'a feature bit beyond 64 was never offered');
  });

  it('ignores notifications until DRIVER_OK, then delivers them', () => {
    const { drv, dev } = setup();
    assert.ok(drv.negotiate(F_VERSION_1));
    const q = drv.setupQueue(0, 0x10000);
    drv.enableQueue(0);
    drv.bar.write(q.notifyOffset, 2, 0);
    assert.deepEqual(dev.notified, []);
    drv.addStatus(DRIVER_OK);
    assert.deepEqual(dev.notified, [0]);
    drv.bar.write(q.notifyOffset, 2, 0);
    assert.deepEqual(dev.notified, [0, 0]);
  });

  it('resets on a status write of 0: queues, features, ISR and the line', () => {
    const { drv, dev, fn } = setup();
    drv.start(F_VERSION_1 | F_EVENT_IDX, 2);
    fn.configChanged();
    assert.equal(drv.slot.level, true);
    drv.wc(C.STATUS, 1, 0);
    assert.equal(drv.status(), 0);
    assert.equal(dev.resets, 2, 'once by the driver at probe, once now');
    assert.equal(drv.slot.level, false);
    assert.equal(drv.readIsr(), 0);
    drv.wc(C.QSELECT, 2, 0);
    assert.equal(drv.rc(C.QENABLE, 2), 0);
    assert.equal(drv.rc(C.QSIZE, 2), 16);
    assert.equal(drv.rc(C.QDESCLO, 4), 0);
    drv.wc(C.GFSELECT, 4, 1);
    assert.equal(drv.rc(C.GF, 4), 0);
    // And the device can be brought up again.
    drv.start(F_VERSION_1, 2);
    assert.equal(dev.activations.length, 2);
  });

  it('raises INTx with ISR bit 0 for a queue, bit 1 for a configuration change; reading clears both', () => {
    const { drv, dev, fn } = setup();
    drv.start(F_VERSION_1, 2);
    const vq = dev.queues[0];
    const q0 = 0x10000;
    // Hand one buffer back as a device would: the driver published head 0.
    drv.mem.view.setUint16(q0 + 16 * 16 + 2, 1, true);
    const c = vq.pop();
    assert.ok(c);
    vq.push(c.head, 0);
    vq.signal();
    assert.equal(drv.slot.level, true);
    fn.configChanged();
    assert.equal(drv.rc(C.GENERATION, 1), 1);
    assert.equal(drv.readIsr(), 3);
    assert.equal(drv.slot.level, false);
    assert.equal(drv.readIsr(), 0, 'read-to-clear');
  });

  it('supports a queue smaller than the maximum', () => {
    const { drv, dev } = setup();
    assert.ok(drv.negotiate(F_VERSION_1));
    drv.setupQueue(0, 0x10000, 4);
    drv.enableQueue(0);
    drv.addStatus(DRIVER_OK);
    assert.equal(dev.queues[0].size, 4);
  });

  describe('kills the guest on garbage register writes', () => {
    const cases: [string, (d: FakeDriver) => void, RegExp][] = [
      ['a 4-byte write to the 1-byte status', (d) => d.wc(C.STATUS, 4, 1), /no common configuration field/],
      ['a write to device_feature', (d) => d.wc(C.DF, 4, 1), /read-only/],
      ['a write to num_queues', (d) => d.wc(C.NUMQ, 2, 1), /read-only/],
      ['a write past the common configuration', (d) => d.wc(0x40, 4, 1), /no common configuration field/],
      ['a status with reserved bits', (d) => d.wc(C.STATUS, 1, 0x30), /bad device status 0x30/],
      ['a status that clears bits', (d) => { d.wc(C.STATUS, 1, ACK | DRIVER); d.wc(C.STATUS, 1, ACK); }, /clears bits/],
      ['DRIVER_OK without FEATURES_OK', (d) => d.wc(C.STATUS, 1, ACK | DRIVER | DRIVER_OK), /DRIVER_OK without FEATURES_OK/],
      ['features changed after FEATURES_OK', (d) => { d.negotiate(F_VERSION_1); d.wc(C.GF, 4, 0); }, /after FEATURES_OK/],
      ['a queue size that is not a power of two', (d) => { d.negotiate(F_VERSION_1); d.wc(C.QSIZE, 2, 12); }, /bad queue size 12/],
      ['a queue size above the maximum', (d) => { d.negotiate(F_VERSION_1); d.wc(C.QSIZE, 2, 32); }, /bad queue size 32/],
      ['a queue size of 0', (d) => { d.negotiate(F_VERSION_1); d.wc(C.QSIZE, 2, 0); }, /bad queue size 0/],
      ['writing 0 to queue_enable', (d) => { d.negotiate(F_VERSION_1); d.wc(C.QENABLE, 2, 0); }, /only 1 is valid/],
      ['enabling a queue before FEATURES_OK', (d) => d.wc(C.QENABLE, 2, 1), /before FEATURES_OK/],
      ['configuring a queue that does not exist', (d) => { d.wc(C.QSELECT, 2, 5); d.wc(C.QDESCLO, 4, 0); }, /queue 5, which does not exist/],
      ['configuring an enabled queue', (d) => { d.negotiate(F_VERSION_1); d.setupQueue(0, 0x10000); d.enableQueue(0); d.wc(C.QSIZE, 2, 8); }, /while the queue is enabled/],
      ['a ring outside guest memory', (d) => { d.negotiate(F_VERSION_1); d.setupQueue(0, 0x10000); d.wc(C.QUSEDLO, 4, 0xfffff000); d.enableQueue(0); }, /test-dev queue 0: bad used ring address 0xfffff000 len 134/],
      ['a ring above 4 GiB', (d) => { d.negotiate(F_VERSION_1); d.setupQueue(0, 0x10000); d.wc(C.QDESCHI, 4, 1); d.enableQueue(0); }, /bad descriptor table address 0x100010000 len 256/],
      ['a misaligned descriptor table', (d) => { d.negotiate(F_VERSION_1); d.setupQueue(0, 0x10000); d.wc(C.QDESCLO, 4, 0x10008); d.enableQueue(0); }, /not 16-byte aligned/],
      ['a write to the ISR', (d) => d.bar.write(d.isr.offset, 1, 1), /read-only ISR/],
      ['a write to the device configuration', (d) => d.bar.write(d.device!.offset, 1, 1), /read-only device configuration/],
      ['a notification for no queue', (d) => d.bar.write(d.notify.offset + 8, 2, 2), /notification for no queue/],
      ['a notification between queues', (d) => d.bar.write(d.notify.offset + 2, 2, 0), /notification for no queue/],
    ];
    for (const [what, act, reason] of cases) {
      it(what, () => {
        const { drv } = setup();
        const e = guestError(() => act(drv));
        assert.match(e.message, reason);
        assert.match(e.message, /^test-dev/, 'the reason names the device');
      });
    }
  });

  it('reads of unknown registers are harmless', () => {
    const { drv } = setup();
    assert.equal(drv.rc(C.STATUS, 4), 0);
    assert.equal(drv.rc(0x100, 4), 0);
    assert.equal(drv.bar.read(0x3ffc, 4), 0);
  });
});
