import { strict as assert } from 'node:assert';
import { GuestMemory } from '../../src/guest/memory';
import { VirtioNet } from '../../src/guest/virtio/net';
import { VirtioPciFunction } from '../../src/guest/virtio/transport';
import { LoopbackNet } from '../../src/launcher/devices/loopback-net';
import { DriverQueue, F_EVENT_IDX, F_INDIRECT, F_VERSION_1, FakeDriver, guestError, Segment } from './virtio-driver';

const F_MAC = 1n << 5n;
const F_STATUS = 1n << 16n;
const F_CTRL_VQ = 1n << 17n;
const F_CTRL_RX = 1n << 18n;
const F_CTRL_MAC_ADDR = 1n << 23n;
const F_CTRL = F_CTRL_VQ | F_CTRL_RX | F_CTRL_MAC_ADDR;
const OK = 0;
const ERR = 1;
/** Control classes and commands (include/uapi/linux/virtio_net.h). */
const RX = 0;
const RX_PROMISC = 0;
const RX_ALLMULTI = 1;
const RX_NOBCAST = 5;
const MAC_CLASS = 1;
const MAC_TABLE_SET = 0;
const MAC_ADDR_SET = 1;
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

/** A back end that records what the device tells it about promiscuous mode and the MAC. */
class RecordingNet extends LoopbackNet {
  calls: string[] = [];
  setPromiscuous(on: boolean): void {
    this.calls.push(`promisc ${on}`);
  }
  setMac(mac: Uint8Array): void {
    this.calls.push(`mac ${Buffer.from(mac).toString('hex')}`);
  }
}

/** A device whose driver negotiated the control queue, as Linux 6.1 does: rx, tx, control. */
function setupControl(): { mem: GuestMemory; net: VirtioNet; wire: RecordingNet; drv: FakeDriver; ctrl: DriverQueue } {
  const mem = new GuestMemory(new ArrayBuffer(1 << 20));
  const wire = new RecordingNet();
  const net = new VirtioNet('virtio-net 0', MAC, wire);
  const drv = new FakeDriver(mem, new VirtioPciFunction(mem, net));
  const queues = drv.start(F_VERSION_1 | F_EVENT_IDX | F_MAC | F_STATUS | F_CTRL, 3);
  return { mem, net, wire, drv, ctrl: queues[2] };
}

const CMD = 0xa0000;
const ACK = 0xa1000;

/**
 * Sends one control command the way virtnet_send_command does: the header,
 * each piece of data in its own descriptor, then a one-byte ack the device
 * writes (primed with 0xff, as Linux primes it with ~0). Returns the ack.
 */
function command(mem: GuestMemory, ctrl: DriverQueue, header: number[], ...data: number[][]): number {
  const segs: Segment[] = [];
  let at = CMD;
  for (const piece of [header, ...data]) {
    mem.u8.set(piece, at);
    segs.push({ addr: at, len: piece.length });
    at += 0x100;
  }
  mem.u8[ACK] = 0xff;
  const head = ctrl.add([...segs, { addr: ACK, len: 1, write: true }]);
  ctrl.kick();
  assert.deepEqual(ctrl.takeUsed(), [{ id: head, len: 1 }], 'answered at once: Linux spins for it');
  return mem.u8[ACK];
}

/** A MAC filter table list: a le32 count and the addresses. */
function macList(...macs: number[][]): number[] {
  return [macs.length, 0, 0, 0, ...macs.flat()];
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

  describe('control queue', () => {
    const NEW_MAC = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];

    it('offers CTRL_VQ, CTRL_RX and CTRL_MAC_ADDR, with a third queue for the commands', () => {
      const { drv } = setupControl();
      assert.equal(drv.deviceFeatures() & F_CTRL, F_CTRL);
      assert.equal(drv.features & F_CTRL, F_CTRL, 'negotiated');
      assert.equal(drv.rc(0x12, 2), 3, 'num_queues: rx, tx, control');
    });

    it('passes promiscuous on and off to the back end', () => {
      const { mem, wire, ctrl } = setupControl();
      assert.equal(command(mem, ctrl, [RX, RX_PROMISC], [1]), OK);
      assert.deepEqual(wire.calls, ['promisc true']);
      assert.equal(command(mem, ctrl, [RX, RX_PROMISC], [0]), OK);
      assert.deepEqual(wire.calls, ['promisc true', 'promisc false']);
    });

    it('sets the MAC address in the back end and in the configuration space', () => {
      const { mem, net, wire, drv, ctrl } = setupControl();
      assert.equal(command(mem, ctrl, [MAC_CLASS, MAC_ADDR_SET], NEW_MAC), OK);
      assert.deepEqual(wire.calls, ['mac 021122334455']);
      assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => drv.readConfig(i, 1)), NEW_MAC);
      assert.deepEqual([...net.mac], NEW_MAC);
    });

    it('gives the back end its original MAC and promiscuous off again when the driver resets the device', () => {
      const { mem, wire, drv, ctrl } = setupControl();
      command(mem, ctrl, [RX, RX_PROMISC], [1]);
      command(mem, ctrl, [MAC_CLASS, MAC_ADDR_SET], NEW_MAC);
      wire.calls = [];
      drv.wc(0x14, 1, 0);
      assert.deepEqual(wire.calls, ['promisc false', 'mac 525400123456']);
      assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => drv.readConfig(i, 1)), [...MAC]);
    });

    it('accepts the other receive modes and the MAC filter table, changing nothing', () => {
      const { mem, wire, drv, ctrl } = setupControl();
      assert.equal(command(mem, ctrl, [RX, RX_ALLMULTI], [1]), OK);
      assert.equal(command(mem, ctrl, [RX, RX_NOBCAST], [0]), OK);
      // What virtnet_set_rx_mode sends: the unicast list, then the multicast list, one descriptor each.
      assert.equal(command(mem, ctrl, [MAC_CLASS, MAC_TABLE_SET], macList(), macList([0x01, 0, 0x5e, 0, 0, 1], [0x33, 0x33, 0, 0, 0, 1])), OK);
      // Both lists in one descriptor, the unicast one not empty.
      assert.equal(command(mem, ctrl, [MAC_CLASS, MAC_TABLE_SET], [...macList(NEW_MAC), ...macList()]), OK);
      assert.deepEqual(wire.calls, []);
      assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => drv.readConfig(i, 1)), [...MAC]);
    });

    it('answers VIRTIO_NET_ERR to malformed commands, and the back end hears nothing', () => {
      const { mem, wire, drv, ctrl } = setupControl();
      const malformed: [string, number[], ...number[][]][] = [
        ['no header', []],
        ['half a header', [RX]],
        ['unknown class', [9, 0], [1]],
        ['unknown receive mode', [RX, 6], [1]],
        ['unknown MAC command', [MAC_CLASS, 2], NEW_MAC],
        ['promiscuous without its byte', [RX, RX_PROMISC]],
        ['promiscuous with two bytes', [RX, RX_PROMISC], [1, 0]],
        ['promiscuous neither on nor off', [RX, RX_PROMISC], [2]],
        ['a 5-byte MAC', [MAC_CLASS, MAC_ADDR_SET], NEW_MAC.slice(0, 5)],
        ['a 7-byte MAC', [MAC_CLASS, MAC_ADDR_SET], [...NEW_MAC, 0]],
        ['a multicast MAC', [MAC_CLASS, MAC_ADDR_SET], [0x01, 0, 0x5e, 0, 0, 1]],
        ['a MAC table without its multicast list', [MAC_CLASS, MAC_TABLE_SET], macList(NEW_MAC)],
        ['a MAC table counting more than it holds', [MAC_CLASS, MAC_TABLE_SET], [2, 0, 0, 0, ...NEW_MAC], macList()],
        ['a MAC table with a huge count', [MAC_CLASS, MAC_TABLE_SET], [0xff, 0xff, 0xff, 0xff], macList()],
        ['a MAC table with bytes left over', [MAC_CLASS, MAC_TABLE_SET], macList(), macList(), [0]],
      ];
      for (const [what, header, ...data] of malformed) {
        assert.equal(command(mem, ctrl, header, ...data.filter((d) => d.length > 0)), ERR, what);
      }
      assert.deepEqual(wire.calls, []);
      assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => drv.readConfig(i, 1)), [...MAC]);
      assert.equal(command(mem, ctrl, [RX, RX_PROMISC], [1]), OK, 'still serving after all that');
    });

    it('works with a back end that has nothing to do for promiscuous mode or a new MAC (a tap)', () => {
      const mem = new GuestMemory(new ArrayBuffer(1 << 20));
      const net = new VirtioNet('virtio-net 0', MAC, new LoopbackNet());
      const drv = new FakeDriver(mem, new VirtioPciFunction(mem, net));
      const ctrl = drv.start(F_VERSION_1 | F_CTRL, 3)[2];
      assert.equal(command(mem, ctrl, [RX, RX_PROMISC], [1]), OK);
      assert.equal(command(mem, ctrl, [MAC_CLASS, MAC_ADDR_SET], NEW_MAC), OK);
      assert.deepEqual([...net.mac], NEW_MAC);
    });

    it('kills the guest for a command with no byte for the answer', () => {
      const { mem, ctrl } = setupControl();
      mem.u8.set([RX, RX_PROMISC, 1], CMD);
      ctrl.add([{ addr: CMD, len: 3 }]);
      assert.match(guestError(() => ctrl.kick()).message, /^virtio-net 0: control command 0 has no byte for the answer$/);
    });

    it('kills the guest for a command outside guest memory, as the other queues do', () => {
      const { ctrl } = setupControl();
      ctrl.add([{ addr: 0xfffff, len: 2 }, { addr: ACK, len: 1, write: true }]);
      assert.match(guestError(() => ctrl.kick()).message, /queue 2/);
    });
  });
});
