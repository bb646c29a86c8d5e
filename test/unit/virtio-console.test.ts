import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GuestMemory } from '../../src/guest/memory';
import { VirtioConsole } from '../../src/guest/virtio/console';
import { VirtioPciFunction } from '../../src/guest/virtio/transport';
import { ConsoleBackend } from '../../src/launcher/devices/console';
import { F_EVENT_IDX, F_INDIRECT, F_VERSION_1, FakeDriver } from './virtio-driver';

describe('virtio-console', () => {
  let dir: string;
  let outFd: number;
  let outFile: string;
  let mem: GuestMemory;
  let con: VirtioConsole;
  let drv: FakeDriver;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'virtio-console-'));
    outFile = path.join(dir, 'out');
    outFd = fs.openSync(outFile, 'w');
    mem = new GuestMemory(new ArrayBuffer(1 << 20));
    con = new VirtioConsole(new ConsoleBackend(-1, outFd));
    drv = new FakeDriver(mem, new VirtioPciFunction(mem, con));
  });

  afterEach(() => {
    fs.closeSync(outFd);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is a single-port console: no features, two queues', () => {
    assert.equal(drv.fn.spec.deviceId, 0x1043);
    assert.equal(drv.deviceFeatures(), F_VERSION_1 | F_EVENT_IDX | F_INDIRECT);
    assert.equal(drv.rc(0x12, 2), 2);
  });

  it('writes what the guest transmits to the console back end, and returns the buffers', () => {
    const [, tx] = drv.start(F_VERSION_1 | F_EVENT_IDX, 2);
    mem.u8.set(Buffer.from('hello, '), 0x80000);
    mem.u8.set(Buffer.from('world\n'), 0x81000);
    tx.add([{ addr: 0x80000, len: 7 }, { addr: 0x81000, len: 6 }]);
    tx.kick();
    assert.deepEqual(tx.takeUsed(), [{ id: 0, len: 0 }]);
    assert.equal(fs.readFileSync(outFile, 'utf8'), 'hello, world\n');
  });

  it('keeps input that arrives before the driver has buffers, and delivers it when it posts some', () => {
    assert.equal(con.active, false);
    con.receive(Buffer.from('early'));
    const [rx] = drv.start(F_VERSION_1 | F_EVENT_IDX, 2);
    assert.equal(con.active, true);
    con.receive(Buffer.from(' bird'));
    assert.equal(drv.slot.raised, 0, 'no buffers yet, nothing to tell');
    rx.add([{ addr: 0x80000, len: 4, write: true }]);
    rx.add([{ addr: 0x81000, len: 100, write: true }]);
    rx.kick();
    assert.deepEqual(rx.takeUsed(), [{ id: 0, len: 4 }, { id: 1, len: 6 }]);
    assert.equal(Buffer.from(mem.u8.subarray(0x80000, 0x80004)).toString(), 'earl');
    assert.equal(Buffer.from(mem.u8.subarray(0x81000, 0x81006)).toString(), 'y bird');
    assert.equal(drv.slot.raised, 1);
    // Input with a buffer already waiting goes straight in.
    rx.add([{ addr: 0x82000, len: 100, write: true }]);
    rx.kick();
    con.receive(Buffer.from('x'));
    assert.deepEqual(rx.takeUsed(), [{ id: 2, len: 1 }]);
  });

  it('copies input, so the caller may reuse its buffer', () => {
    const buf = Buffer.from('abc');
    con.receive(buf);
    buf.fill(0);
    const [rx] = drv.start(F_VERSION_1, 2);
    rx.add([{ addr: 0x80000, len: 16, write: true }]);
    rx.kick();
    assert.equal(Buffer.from(mem.u8.subarray(0x80000, 0x80003)).toString(), 'abc');
  });

  it('forgets its queues on reset but keeps undelivered input', () => {
    drv.start(F_VERSION_1, 2);
    drv.wc(0x14, 1, 0);
    assert.equal(con.active, false);
    con.receive(Buffer.from('kept'));
    const [rx] = drv.start(F_VERSION_1, 2);
    rx.add([{ addr: 0x80000, len: 16, write: true }]);
    rx.kick();
    assert.deepEqual(rx.takeUsed(), [{ id: 0, len: 4 }]);
  });
});
