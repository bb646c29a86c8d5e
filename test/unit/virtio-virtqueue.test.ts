import { strict as assert } from 'node:assert';
import { GuestMemory } from '../../src/guest/memory';
import { VirtioPciFunction } from '../../src/guest/virtio/transport';
import { Virtqueue } from '../../src/guest/virtio/virtqueue';
import {
  DESC_INDIRECT, DESC_NEXT, DriverQueue, F_EVENT_IDX, F_INDIRECT, F_VERSION_1, FakeDriver, Recorder,
  guestError,
} from './virtio-driver';

const MEM = 1 << 20;

/** A started device whose queue 0 (16 entries) the test drives from both sides. */
function setup(features = F_VERSION_1 | F_INDIRECT | F_EVENT_IDX): {
  mem: GuestMemory;
  drv: FakeDriver;
  q: DriverQueue;
  vq: Virtqueue;
} {
  const mem = new GuestMemory(new ArrayBuffer(MEM));
  const dev = new Recorder();
  const drv = new FakeDriver(mem, new VirtioPciFunction(mem, dev));
  const [q] = drv.start(features, 2);
  return { mem, drv, q, vq: dev.queues[0] };
}

describe('split virtqueue', () => {
  it('walks a chain: readable segments, then writable ones, copied and viewed across segments', () => {
    const { mem, q, vq } = setup();
    mem.u8.set([1, 2, 3], 0x80000);
    mem.u8.set([4, 5], 0x80100);
    const head = q.add([
      { addr: 0x80000, len: 3 },
      { addr: 0x80100, len: 2 },
      { addr: 0x80200, len: 4, write: true },
      { addr: 0x80300, len: 4, write: true },
    ]);
    assert.equal(vq.hasAvailable(), true);
    const c = vq.pop();
    assert.ok(c);
    assert.equal(c.head, head);
    assert.equal(c.readableLength, 5);
    assert.equal(c.writableLength, 8);
    const got = new Uint8Array(4);
    assert.equal(c.read(got, 1), 4);
    assert.deepEqual([...got], [2, 3, 4, 5]);
    assert.deepEqual(c.readableViews(2, 2).map((v) => [...v]), [[3], [4]]);
    assert.equal(c.write(new Uint8Array([9, 8, 7, 6, 5, 4]), 1), 6);
    assert.deepEqual([...mem.u8.subarray(0x80200, 0x80204)], [0, 9, 8, 7]);
    assert.deepEqual([...mem.u8.subarray(0x80300, 0x80304)], [6, 5, 4, 0]);
    assert.equal(c.write(new Uint8Array(20), 0), 8, 'never writes past the writable segments');
    assert.deepEqual(c.writableViews(3, 3).map((v) => v.length), [1, 2]);
    vq.push(c.head, 7);
    assert.equal(vq.pop(), null);
    assert.equal(vq.hasAvailable(), false);
    assert.deepEqual(q.takeUsed(), [{ id: head, len: 7 }]);
  });

  it('announces the device-writable segments before the device writes them (so the CPU drops code decoded there)', () => {
    const { mem, q, vq } = setup();
    const announced: [number, number][] = [];
    mem.deviceWrites = (addr, len) => void announced.push([addr, len]);
    q.add([
      { addr: 0x80000, len: 3 },
      { addr: 0x81000, len: 0x1000, write: true },
      { addr: 0x83000, len: 16, write: true },
    ]);
    const c = vq.pop();
    assert.ok(c);
    assert.deepEqual(announced, [[0x81000, 0x1000], [0x83000, 16]]);
  });

  it('walks a chain through an indirect table', () => {
    const { mem, q, vq } = setup();
    mem.u8.set([7, 7, 7], 0x80000);
    const head = q.addIndirect([{ addr: 0x80000, len: 3 }, { addr: 0x80100, len: 10, write: true }], 0x70000);
    const c = vq.pop();
    assert.ok(c);
    assert.equal(c.head, head);
    assert.equal(c.count, 2);
    assert.equal(c.readableLength, 3);
    assert.equal(c.writableLength, 10);
  });

  it('gives a chain back with unpop', () => {
    const { q, vq } = setup();
    const head = q.add([{ addr: 0x80000, len: 1 }]);
    assert.equal(vq.pop()?.head, head);
    vq.unpop();
    assert.equal(vq.pop()?.head, head);
  });

  describe('kills the guest on a malformed chain', () => {
    const cases: [string, (q: DriverQueue) => void, RegExp][] = [
      ['a readable buffer outside memory', (q) => q.add([{ addr: MEM - 8, len: 16 }]), /^test-dev queue 0: bad read address 0xffff8 len 16$/],
      ['a writable buffer outside memory', (q) => q.add([{ addr: 0x80000, len: 4 }, { addr: 0xfffffff0, len: 0x20, write: true }]), /bad write address 0xfffffff0 len 32$/],
      ['a buffer above 4 GiB', (q) => { q.writeDesc(q.desc, 0, 0x1000, 8, 0, 0, 2); q.publish(0); }, /bad read address 0x200001000 len 8$/],
      ['a length that wraps', (q) => q.add([{ addr: 0x80000, len: 0xffffffff }]), /bad read address 0x80000 len 4294967295$/],
      ['a looping chain', (q) => { q.writeDesc(q.desc, 0, 0x80000, 1, DESC_NEXT, 1); q.writeDesc(q.desc, 1, 0x80000, 1, DESC_NEXT, 0); q.publish(0); }, /longer than the queue size 16 \(a loop\?\)/],
      ['a descriptor pointing at itself', (q) => { q.writeDesc(q.desc, 3, 0x80000, 1, DESC_NEXT, 3); q.publish(3); }, /longer than the queue size/],
      ['a loop inside an indirect table', (q) => { q.writeDesc(0x70000, 0, 0x80000, 1, DESC_NEXT, 0); q.writeDesc(q.desc, 0, 0x70000, 16, DESC_INDIRECT, 0); q.publish(0); }, /longer than the queue size/],
      ['a next index outside the table', (q) => { q.writeDesc(q.desc, 0, 0x80000, 1, DESC_NEXT, 20); q.publish(0); }, /descriptor index 20 outside a table of 16/],
      ['a head index outside the table', (q) => q.publish(16), /descriptor index 16 outside a table of 16/],
      ['a readable descriptor after a writable one', (q) => q.add([{ addr: 0x80000, len: 4, write: true }, { addr: 0x80100, len: 4 }]), /readable descriptor after a device-writable one/],
      ['an indirect descriptor inside an indirect table', (q) => { q.writeDesc(0x70000, 0, 0x70000, 16, DESC_INDIRECT, 0); q.writeDesc(q.desc, 0, 0x70000, 16, DESC_INDIRECT, 0); q.publish(0); }, /indirect descriptor inside an indirect table/],
      ['an indirect descriptor with NEXT', (q) => { q.writeDesc(q.desc, 0, 0x70000, 16, DESC_INDIRECT | DESC_NEXT, 1); q.publish(0); }, /indirect descriptor with NEXT/],
      ['an indirect table of odd length', (q) => { q.writeDesc(q.desc, 0, 0x70000, 24, DESC_INDIRECT, 0); q.publish(0); }, /indirect table length 24/],
      ['an indirect table outside memory', (q) => { q.writeDesc(q.desc, 0, MEM - 16, 32, DESC_INDIRECT, 0); q.publish(0); }, /bad indirect table address 0xffff0 len 32/],
      ['an available index far ahead', (q) => q.drv.mem.view.setUint16(q.avail + 2, 17, true), /available index ran 17 entries ahead of a ring of 16/],
    ];
    for (const [what, make, reason] of cases) {
      it(what, () => {
        const { q, vq } = setup();
        make(q);
        assert.match(guestError(() => vq.pop()).message, reason);
      });
    }

    it('through the notify register, as a GuestError out of the MMIO write', () => {
      const mem = new GuestMemory(new ArrayBuffer(MEM));
      const dev = new Recorder();
      const drv = new FakeDriver(mem, new VirtioPciFunction(mem, dev));
      const [q] = drv.start(F_VERSION_1, 1);
      dev.notify = () => {
        dev.queues[0].pop();
      };
      q.add([{ addr: MEM, len: 1 }]);
      assert.match(guestError(() => q.kick()).message, /bad read address 0x100000 len 1/);
    });
  });

  describe('notification suppression with EVENT_IDX', () => {
    it('interrupts only when the used index passes used_event', () => {
      const { drv, q, vq } = setup();
      q.setUsedEvent(2);
      for (let i = 0; i < 5; i++) q.add([{ addr: 0x80000, len: 1 }]);
      const step = (): number => {
        const c = vq.pop()!;
        vq.push(c.head, 0);
        vq.signal();
        return drv.slot.raised;
      };
      assert.equal(step(), 0, 'used idx 1: the driver asked to hear at 3');
      assert.equal(step(), 0, 'used idx 2');
      assert.equal(step(), 1, 'used idx 3 passes used_event 2');
      drv.readIsr();
      // Two more in one batch: 4 and 5 do not cross 2 again.
      for (let i = 0; i < 2; i++) {
        const c = vq.pop()!;
        vq.push(c.head, 0);
      }
      vq.signal();
      assert.equal(drv.slot.raised, 1);
    });

    it('does not interrupt when nothing was used', () => {
      const { drv, vq } = setup();
      vq.signal();
      assert.equal(drv.slot.raised, 0);
    });

    it('publishes avail_event so the driver kicks only for buffers we have not seen', () => {
      const { q, vq } = setup();
      q.add([{ addr: 0x80000, len: 1 }]);
      assert.equal(q.kick(), true, 'first kick');
      // The device has not looked at the queue yet: a second buffer needs no kick.
      q.add([{ addr: 0x80000, len: 1 }]);
      assert.equal(q.kick(), false);
      vq.pop();
      vq.pop();
      assert.equal(vq.pop(), null);
      assert.equal(q.availEvent, 2);
      q.add([{ addr: 0x80000, len: 1 }]);
      assert.equal(q.kick(), true, 'the device asked for a kick at index 2');
    });
  });

  describe('without EVENT_IDX', () => {
    it('interrupts unless the driver set VIRTQ_AVAIL_F_NO_INTERRUPT', () => {
      const { drv, q, vq } = setup(F_VERSION_1);
      q.setAvailFlags(1);
      q.add([{ addr: 0x80000, len: 1 }]);
      let c = vq.pop()!;
      vq.push(c.head, 0);
      vq.signal();
      assert.equal(drv.slot.raised, 0);
      q.setAvailFlags(0);
      q.add([{ addr: 0x80000, len: 1 }]);
      c = vq.pop()!;
      vq.push(c.head, 0);
      vq.signal();
      assert.equal(drv.slot.raised, 1);
      assert.equal(q.availEvent, 0, 'avail_event is not touched');
    });
  });
});
