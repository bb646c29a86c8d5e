import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GuestMemory } from '../../src/guest/memory';
import { BlockBackend, VirtioBlock } from '../../src/guest/virtio/blk';
import { VirtioPciFunction } from '../../src/guest/virtio/transport';
import { BlockFile } from '../../src/launcher/devices/block-file';
import { DriverQueue, F_EVENT_IDX, F_INDIRECT, F_VERSION_1, FakeDriver, Segment, guestError } from './virtio-driver';

const MEM = 1 << 20;
const HDR = 0x80000;
const STATUS = 0x80100;
const DATA = 0x90000;
const T_IN = 0;
const T_OUT = 1;
const T_FLUSH = 4;
const T_GET_ID = 8;
const S_OK = 0;
const S_IOERR = 1;
const S_UNSUPP = 2;
const F_SEG_MAX = 1n << 2n;
const F_RO = 1n << 5n;
const F_FLUSH = 1n << 9n;

let dir: string;

/** A disk image of `sectors` sectors where byte i holds (i * 7) & 0xff. */
function image(name: string, bytes: number): string {
  const file = path.join(dir, name);
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 7) & 0xff;
  fs.writeFileSync(file, data);
  return file;
}

interface Rig {
  mem: GuestMemory;
  drv: FakeDriver;
  q: DriverQueue;
  file: BlockFile | null;
  /** Sends one request and returns the status byte and used length. */
  request(type: number, sector: number, data: { in?: number; out?: Uint8Array; segments?: number; indirect?: boolean }): { status: number; len: number };
}

function rig(backend: BlockBackend, file: BlockFile | null = null): Rig {
  const mem = new GuestMemory(new ArrayBuffer(MEM));
  const drv = new FakeDriver(mem, new VirtioPciFunction(mem, new VirtioBlock('virtio-blk test', backend)));
  const [q] = drv.start(F_VERSION_1 | F_INDIRECT | F_EVENT_IDX | F_SEG_MAX | F_FLUSH | F_RO, 1);
  return {
    mem,
    drv,
    q,
    file,
    request(type, sector, data) {
      const h = new DataView(mem.buffer, HDR, 16);
      h.setUint32(0, type, true);
      h.setUint32(4, 0, true);
      h.setUint32(8, sector >>> 0, true);
      h.setUint32(12, Math.floor(sector / 0x100000000), true);
      mem.u8[STATUS] = 0xff;
      const segs: Segment[] = [{ addr: HDR, len: 16 }];
      const length = data.in ?? data.out?.length ?? 0;
      if (data.out) mem.u8.set(data.out, DATA);
      const n = data.segments ?? 1;
      // Split the data into n pieces, spaced apart in memory.
      for (let k = 0, off = 0; k < n && length > 0; k++) {
        const piece = k === n - 1 ? length - off : Math.floor(length / n);
        segs.push({ addr: DATA + off + k * 0x1000, len: piece, write: data.in !== undefined });
        if (data.out && k > 0) mem.u8.set(data.out.subarray(off, off + piece), DATA + off + k * 0x1000);
        off += piece;
      }
      segs.push({ addr: STATUS, len: 1, write: true });
      if (data.indirect) q.addIndirect(segs, 0x70000);
      else q.add(segs);
      q.kick();
      const used = q.takeUsed();
      assert.equal(used.length, 1);
      return { status: mem.u8[STATUS], len: used[0].len };
    },
  };
}

function fileRig(file: string): Rig {
  const f = BlockFile.open(file);
  return rig(f, f);
}

describe('virtio-blk', () => {
  let open: Rig[] = [];
  const use = (r: Rig): Rig => {
    open.push(r);
    return r;
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'virtio-blk-'));
  });

  afterEach(() => {
    for (const r of open) r.file?.close();
    open = [];
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reports capacity in sectors, seg_max, FLUSH, and no RO for a writable file', () => {
    const r = use(fileRig(image('disk.img', 64 * 1024 + 100)));
    assert.equal(r.drv.readConfig(0, 4), 128, 'the partial sector at the end is not part of the disk');
    assert.equal(r.drv.readConfig(4, 4), 0);
    assert.equal(r.drv.readConfig(12, 4), 254);
    assert.equal(r.drv.features & (F_SEG_MAX | F_FLUSH | F_RO), F_SEG_MAX | F_FLUSH);
  });

  it('reads sectors into the guest, across several buffers', () => {
    const file = image('disk.img', 64 * 1024);
    const r = use(fileRig(file));
    const res = r.request(T_IN, 3, { in: 1536, segments: 3 });
    assert.deepEqual(res, { status: S_OK, len: 1537 });
    const want = fs.readFileSync(file).subarray(3 * 512, 3 * 512 + 1536);
    const got = Buffer.concat([
      r.mem.u8.subarray(DATA, DATA + 512),
      r.mem.u8.subarray(DATA + 512 + 0x1000, DATA + 1024 + 0x1000),
      r.mem.u8.subarray(DATA + 1024 + 0x2000, DATA + 1536 + 0x2000),
    ]);
    assert.ok(got.equals(want));
    assert.equal(r.drv.slot.level, true, 'the guest is interrupted');
    assert.equal(r.drv.readIsr(), 1);
  });

  it('writes sectors to the file before acknowledging them', () => {
    const file = image('disk.img', 64 * 1024);
    const r = use(fileRig(file));
    const data = Buffer.alloc(1024, 0xab);
    data.fill(0xcd, 600);
    r.q.add([{ addr: HDR, len: 16 }, { addr: DATA, len: 1024 }, { addr: STATUS, len: 1, write: true }]);
    new DataView(r.mem.buffer, HDR, 16).setUint32(0, T_OUT, true);
    new DataView(r.mem.buffer, HDR, 16).setUint32(8, 5, true);
    r.mem.u8.set(data, DATA);
    r.q.kick();
    // The used ring says done: the bytes must be in the file by now.
    assert.deepEqual(r.q.takeUsed(), [{ id: 0, len: 1 }]);
    assert.equal(r.mem.u8[STATUS], S_OK);
    const now = fs.readFileSync(file);
    assert.ok(now.subarray(5 * 512, 7 * 512).equals(data));
    assert.equal(now[5 * 512 - 1], ((5 * 512 - 1) * 7) & 0xff, 'the sector before is untouched');
    assert.equal(now[7 * 512], (7 * 512 * 7) & 0xff, 'the sector after is untouched');
  });

  it('writes a request given through an indirect table, in several segments', () => {
    const file = image('disk.img', 64 * 1024);
    const r = use(fileRig(file));
    const data = new Uint8Array(2048).map((_, i) => (i * 13) & 0xff);
    assert.deepEqual(r.request(T_OUT, 10, { out: data, segments: 4, indirect: true }), { status: S_OK, len: 1 });
    assert.ok(fs.readFileSync(file).subarray(5120, 5120 + 2048).equals(Buffer.from(data)));
  });

  it('flushes', () => {
    const r = use(fileRig(image('disk.img', 4096)));
    assert.deepEqual(r.request(T_FLUSH, 0, {}), { status: S_OK, len: 1 });
  });

  it('answers GET_ID with the file name', () => {
    const r = use(fileRig(image('my-disk.img', 4096)));
    r.mem.u8.fill(0xee, DATA, DATA + 20);
    assert.deepEqual(r.request(T_GET_ID, 0, { in: 20 }), { status: S_OK, len: 21 });
    const id = Buffer.from(r.mem.u8.subarray(DATA, DATA + 20));
    assert.equal(id.toString('latin1'), 'my-disk.img' + '\0'.repeat(9));
  });

  it('answers an unknown request type with UNSUPP', () => {
    const r = use(fileRig(image('disk.img', 4096)));
    assert.deepEqual(r.request(11, 0, { out: new Uint8Array(16) }), { status: S_UNSUPP, len: 1 });
  });

  it('fails requests past the end with IOERR and never grows the file', () => {
    const file = image('disk.img', 64 * 1024);
    const before = fs.readFileSync(file);
    const r = use(fileRig(file));
    assert.equal(r.request(T_OUT, 127, { out: new Uint8Array(1024).fill(1) }).status, S_IOERR);
    assert.equal(r.request(T_OUT, 128, { out: new Uint8Array(512).fill(1) }).status, S_IOERR);
    assert.equal(r.request(T_OUT, 2 ** 55, { out: new Uint8Array(512).fill(1) }).status, S_IOERR);
    assert.equal(r.request(T_OUT, 2 ** 32 - 1, { out: new Uint8Array(512).fill(1) }).status, S_IOERR);
    assert.deepEqual(r.request(T_IN, 127, { in: 1024 }), { status: S_IOERR, len: 1 });
    assert.equal(fs.statSync(file).size, 64 * 1024);
    assert.ok(fs.readFileSync(file).equals(before));
    assert.equal(r.request(T_OUT, 127, { out: new Uint8Array(512).fill(1) }).status, S_OK, 'the last sector itself is fine');
    assert.equal(fs.statSync(file).size, 64 * 1024);
  });

  it('fails transfers that are not whole sectors with IOERR', () => {
    const file = image('disk.img', 4096);
    const r = use(fileRig(file));
    assert.equal(r.request(T_OUT, 0, { out: new Uint8Array(100) }).status, S_IOERR);
    assert.equal(r.request(T_IN, 0, { in: 513 }).status, S_IOERR);
    assert.equal(fs.readFileSync(file)[1], 7);
  });

  it('serves a read-only file as a read-only disk', () => {
    const file = image('ro.img', 8192);
    fs.chmodSync(file, 0o444);
    const r = use(fileRig(file));
    assert.equal(r.drv.features & F_RO, F_RO);
    assert.equal(r.request(T_IN, 1, { in: 512 }).status, S_OK);
    assert.equal(r.mem.u8[DATA + 1], ((513 * 7) & 0xff));
    assert.equal(r.request(T_OUT, 1, { out: new Uint8Array(512) }).status, S_IOERR);
    assert.equal(fs.readFileSync(file)[513], (513 * 7) & 0xff);
  });

  it('serves many requests in one kick, with one interrupt', () => {
    const r = use(fileRig(image('disk.img', 64 * 1024)));
    for (let i = 0; i < 5; i++) {
      r.q.add([{ addr: HDR, len: 16 }, { addr: DATA + i * 512, len: 512, write: true }, { addr: STATUS + i, len: 1, write: true }]);
    }
    new DataView(r.mem.buffer, HDR, 16).setUint32(0, T_IN, true);
    r.q.kick();
    assert.equal(r.q.takeUsed().length, 5);
    assert.equal(r.drv.slot.raised, 1);
  });

  it('turns a host I/O error into IOERR for the guest', () => {
    // /dev/full fails every write with ENOSPC: a real OS error, not a mock.
    const full = fs.openSync('/dev/full', 'r+');
    try {
      const backend: BlockBackend = {
        size: 1 << 20,
        readOnly: false,
        id: new Uint8Array(0),
        read: (b, p) => fs.readvSync(full, b, p),
        write: (b, p) => void fs.writevSync(full, b, p),
        flush: () => fs.fdatasyncSync(full),
      };
      const r = rig(backend);
      assert.equal(r.request(T_OUT, 0, { out: new Uint8Array(512) }).status, S_IOERR);
      assert.equal(r.request(T_IN, 0, { in: 512 }).status, S_OK, '/dev/full reads zeros');
    } finally {
      fs.closeSync(full);
    }
  });

  describe('kills the guest on a malformed request', () => {
    it('without a full header', () => {
      const r = use(fileRig(image('disk.img', 4096)));
      r.q.add([{ addr: HDR, len: 8 }, { addr: STATUS, len: 1, write: true }]);
      assert.match(guestError(() => r.q.kick()).message, /^virtio-blk test: request 0 has 8 readable and 1 writable bytes/);
    });

    it('without a status byte', () => {
      const r = use(fileRig(image('disk.img', 4096)));
      r.q.add([{ addr: HDR, len: 16 }, { addr: DATA, len: 512 }]);
      assert.match(guestError(() => r.q.kick()).message, /needs a 16-byte header and a status byte/);
    });

    it('with a data buffer outside memory, leaving the file alone', () => {
      const file = image('disk.img', 4096);
      const before = fs.readFileSync(file);
      const r = use(fileRig(file));
      new DataView(r.mem.buffer, HDR, 16).setUint32(0, T_OUT, true);
      r.q.add([{ addr: HDR, len: 16 }, { addr: MEM - 256, len: 512 }, { addr: STATUS, len: 1, write: true }]);
      assert.match(guestError(() => r.q.kick()).message, /^virtio-blk test queue 0: bad read address 0xfff00 len 512$/);
      assert.ok(fs.readFileSync(file).equals(before));
    });
  });
});
