import { strict as assert } from 'node:assert';
import { GuestMemory } from '../../src/guest/memory';
import { VirtioNet } from '../../src/guest/virtio/net';
import { VirtioPciFunction } from '../../src/guest/virtio/transport';
import { LoopbackNet } from '../../src/launcher/devices/loopback-net';
import { DriverQueue, F_EVENT_IDX, F_INDIRECT, F_VERSION_1, FakeDriver, guestError } from './virtio-driver';

const F_MAC = 1n << 5n;
const F_STATUS = 1n << 16n;
const MAC = new Uint8Array([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
const HDR = 12;

/** An Ethernet frame of `len` bytes: broadcast destination, our MAC as source, a pattern after. */
function frame(len: number, seed = 1): Uint8Array {
  const f = new Uint8Array(len).map((_, i) => (i * seed + 3) & 0xff);
  f.fill(0xff, 0, 6);
  f.set(MAC, 6);
  return f;
}

function setup(): { mem: GuestMemory; net: VirtioNet; wire: LoopbackNet; drv: FakeDriver; rx: DriverQueue; tx: DriverQueue } {
  const mem = new GuestMemory(new ArrayBuffer(1 << 20));
  const wire = new LoopbackNet();
  const net = new VirtioNet('virtio-net 0', MAC, wire);
  const drv = new FakeDriver(mem, new VirtioPciFunction(mem, net));
  const [rx, tx] = drv.start(F_VERSION_1 | F_EVENT_IDX | F_INDIRECT | F_MAC | F_STATUS, 2);
  return { mem, net, wire, drv, rx, tx };
}

/** Sends `f` from the guest: a zero virtio-net header then the frame, in one buffer. */
function transmit(mem: GuestMemory, tx: DriverQueue, f: Uint8Array, at = 0x80000): void {
  mem.u8.fill(0, at, at + HDR);
  mem.u8.set(f, at + HDR);
  tx.add([{ addr: at, len: HDR + f.length }]);
  tx.kick();
}

describe('virtio-net', () => {
  it('offers MAC and STATUS, with the MAC and link-up in its configuration', () => {
    const { drv } = setup();
    assert.equal(drv.fn.spec.deviceId, 0x1041);
    assert.equal(drv.fn.spec.classCode, 0x020000);
    assert.equal(drv.features, F_VERSION_1 | F_EVENT_IDX | F_INDIRECT | F_MAC | F_STATUS);
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => drv.readConfig(i, 1)), [...MAC]);
    assert.equal(drv.readConfig(6, 2), 1, 'VIRTIO_NET_S_LINK_UP');
  });

  it('sends a frame without its header, and a loopback brings it back with one', () => {
    const { mem, wire, drv, rx, tx } = setup();
    const f = frame(60);
    transmit(mem, tx, f);
    assert.deepEqual(tx.takeUsed(), [{ id: 0, len: 0 }]);
    assert.equal(wire.waiting, 1, 'no receive buffer yet: the frame waits on the wire');
    rx.add([{ addr: 0x90000, len: HDR + 1518, write: true }]);
    rx.kick();
    assert.equal(wire.waiting, 0);
    assert.deepEqual(rx.takeUsed(), [{ id: 0, len: HDR + 60 }]);
    const hdr = new DataView(mem.buffer, 0x90000, HDR);
    assert.equal(hdr.getUint8(0), 0, 'flags');
    assert.equal(hdr.getUint8(1), 0, 'gso_type NONE');
    assert.equal(hdr.getUint16(10, true), 1, 'num_buffers');
    assert.deepEqual([...mem.u8.subarray(0x90000 + HDR, 0x90000 + HDR + 60)], [...f]);
    assert.ok(drv.slot.level);
  });

  it('delivers straight away when a receive buffer is waiting, through the run loop hook', () => {
    const { mem, net, wire, rx } = setup();
    assert.equal(net.canReceive, false);
    rx.add([{ addr: 0x90000, len: 2000, write: true }]);
    rx.kick();
    assert.equal(net.canReceive, true);
    wire.send(frame(100, 5));
    assert.deepEqual(rx.takeUsed(), []);
    net.receive();
    assert.deepEqual(rx.takeUsed(), [{ id: 0, len: HDR + 100 }]);
    assert.deepEqual([...mem.u8.subarray(0x90000 + HDR, 0x90000 + HDR + 100)], [...frame(100, 5)]);
    assert.equal(net.canReceive, false, 'the one buffer is used up');
  });

  it('gathers a frame scattered over several buffers, header separate', () => {
    const { mem, wire, tx } = setup();
    const f = frame(200, 3);
    mem.u8.set(f.subarray(0, 50), 0x81000);
    mem.u8.set(f.subarray(50), 0x82000);
    tx.add([{ addr: 0x80000, len: HDR }, { addr: 0x81000, len: 50 }, { addr: 0x82000, len: 150 }]);
    tx.kick();
    assert.deepEqual([...wire.poll()!], [...f]);
  });

  it('drops a frame too big for the guest buffer, keeping the buffer for the next frame', () => {
    const { mem, net, wire, rx } = setup();
    rx.add([{ addr: 0x90000, len: HDR + 100, write: true }]);
    rx.kick();
    wire.send(frame(150));
    wire.send(frame(80, 9));
    net.receive();
    assert.equal(net.dropped, 1);
    assert.deepEqual(rx.takeUsed(), [{ id: 0, len: HDR + 80 }]);
    assert.deepEqual([...mem.u8.subarray(0x90000 + HDR, 0x90000 + HDR + 80)], [...frame(80, 9)]);
  });

  it('drops a runt the guest sends, and completes the buffer', () => {
    const { mem, net, wire, tx } = setup();
    transmit(mem, tx, new Uint8Array(10));
    assert.equal(net.dropped, 1);
    assert.equal(wire.waiting, 0);
    assert.deepEqual(tx.takeUsed(), [{ id: 0, len: 0 }]);
  });

  it('kills the guest for a transmit buffer without a header', () => {
    const { tx } = setup();
    tx.add([{ addr: 0x80000, len: 8 }]);
    assert.match(guestError(() => tx.kick()).message, /^virtio-net 0: transmit buffer 0 of 8 bytes has no virtio-net header$/);
  });

  it('rejects a MAC that is not 6 bytes', () => {
    assert.throws(() => new VirtioNet('n', new Uint8Array(5), new LoopbackNet()), /6 bytes/);
  });
});
