import { strict as assert } from 'node:assert';
import { GuestMemory } from '../../src/guest/memory';
import { VirtioRng } from '../../src/guest/virtio/rng';
import { VirtioPciFunction } from '../../src/guest/virtio/transport';
import { hostEntropy } from '../../src/launcher/devices/rng';
import { F_EVENT_IDX, F_VERSION_1, FakeDriver } from './virtio-driver';

describe('virtio-rng', () => {
  it('fills the buffers the guest posts with host randomness', () => {
    const mem = new GuestMemory(new ArrayBuffer(1 << 20));
    const drv = new FakeDriver(mem, new VirtioPciFunction(mem, new VirtioRng(hostEntropy)));
    assert.equal(drv.fn.spec.deviceId, 0x1044);
    assert.equal(drv.device, undefined, 'no device configuration, so no capability for it');
    const [q] = drv.start(F_VERSION_1 | F_EVENT_IDX, 1);
    q.add([{ addr: 0x80000, len: 64, write: true }]);
    q.add([{ addr: 0x80040, len: 32, write: true }, { addr: 0x80060, len: 32, write: true }]);
    q.kick();
    assert.deepEqual(q.takeUsed(), [{ id: 0, len: 64 }, { id: 1, len: 64 }]);
    const a = Buffer.from(mem.u8.subarray(0x80000, 0x80040));
    const b = Buffer.from(mem.u8.subarray(0x80040, 0x80080));
    assert.ok(!a.equals(Buffer.alloc(64)) && !b.equals(Buffer.alloc(64)));
    assert.ok(!a.equals(b));
    assert.equal(drv.readIsr(), 1);
  });

  it('hands out at most 64 KiB per buffer', () => {
    const mem = new GuestMemory(new ArrayBuffer(1 << 20));
    const drv = new FakeDriver(mem, new VirtioPciFunction(mem, new VirtioRng(hostEntropy)));
    const [q] = drv.start(F_VERSION_1, 1);
    q.add([{ addr: 0x40000, len: 0x30000, write: true }]);
    q.kick();
    assert.deepEqual(q.takeUsed(), [{ id: 0, len: 65536 }]);
    assert.ok(mem.u8.subarray(0x50000, 0x70000).every((x) => x === 0), 'nothing written past the length reported');
  });

  it('ignores device-readable buffers', () => {
    const mem = new GuestMemory(new ArrayBuffer(1 << 20));
    const drv = new FakeDriver(mem, new VirtioPciFunction(mem, new VirtioRng(hostEntropy)));
    const [q] = drv.start(F_VERSION_1, 1);
    q.add([{ addr: 0x80000, len: 64 }]);
    q.kick();
    assert.deepEqual(q.takeUsed(), [{ id: 0, len: 0 }]);
    assert.ok(mem.u8.subarray(0x80000, 0x80040).every((x) => x === 0));
  });
});
