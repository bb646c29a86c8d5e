import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GuestError } from '../../src/guest/guest-error';
import { GuestMemory } from '../../src/guest/memory';
import { VirtioBlock } from '../../src/guest/virtio/blk';
import { VirtioConsole } from '../../src/guest/virtio/console';
import { VirtioDevice } from '../../src/guest/virtio/device';
import { VirtioNet } from '../../src/guest/virtio/net';
import { VirtioRng } from '../../src/guest/virtio/rng';
import { VirtioPciFunction } from '../../src/guest/virtio/transport';
import { BlockFile } from '../../src/launcher/devices/block-file';
import { LoopbackNet } from '../../src/launcher/devices/loopback-net';
import { hostEntropy } from '../../src/launcher/devices/rng';
import { DriverQueue, F_EVENT_IDX, F_INDIRECT, F_VERSION_1, FakeDriver } from './virtio-driver';

/** xorshift32: the same "random" guest on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const MEM = 1 << 20;

/**
 * A hostile guest: properly started devices, then garbage in the rings, the
 * descriptors, the buffers and the registers. Whatever it does may kill it
 * (a GuestError), but must never throw anything else, never hang, and never
 * change the size of a disk file.
 */
describe('virtio against a hostile guest', () => {
  let dir: string;
  let disk: string;
  let outFd: number;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'virtio-fuzz-'));
    disk = path.join(dir, 'disk.img');
    fs.writeFileSync(disk, Buffer.alloc(64 * 1024, 0x33));
    outFd = fs.openSync('/dev/null', 'w');
  });

  after(() => {
    fs.closeSync(outFd);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const makers: [string, () => { dev: VirtioDevice; queues: number; close(): void; input(): void }][] = [
    ['virtio-blk', () => {
      const f = BlockFile.open(disk);
      return { dev: new VirtioBlock('virtio-blk fuzz', f), queues: 1, close: () => f.close(), input: () => undefined };
    }],
    ['virtio-console', () => {
      const dev = new VirtioConsole({ write: (b) => void fs.writeSync(outFd, b) });
      return { dev, queues: 2, close: () => undefined, input: () => dev.receive(Buffer.from('input')) };
    }],
    ['virtio-rng', () => ({ dev: new VirtioRng(hostEntropy), queues: 1, close: () => undefined, input: () => undefined })],
    ['virtio-net', () => {
      const wire = new LoopbackNet();
      const dev = new VirtioNet('virtio-net fuzz', new Uint8Array(6), wire);
      return {
        dev,
        queues: 2,
        close: () => undefined,
        input: () => {
          wire.send(new Uint8Array(60 + (wire.waiting % 3) * 700));
          dev.receive();
        },
      };
    }],
  ];

  for (const [name, make] of makers) {
    it(`${name}: only GuestErrors, and the disk keeps its size`, () => {
      const next = rng(name.length * 7919);
      let kills = 0;
      for (let round = 0; round < 150; round++) {
        const mem = new GuestMemory(new ArrayBuffer(MEM));
        const m = make();
        const drv = new FakeDriver(mem, new VirtioPciFunction(mem, m.dev));
        try {
          const qs: DriverQueue[] = drv.start(F_VERSION_1 | F_INDIRECT | (round % 2 ? F_EVENT_IDX : 0n), m.queues);
          for (let step = 0; step < 40; step++) {
            const r = next() % 20;
            const q = qs[next() % qs.length];
            if (r < 8) {
              // Shaped like a block request: header, data, status; random type, sector and length.
              const h = new DataView(mem.buffer, 0x80000, 16);
              h.setUint32(0, [0, 1, 4, 8, next()][next() % 5], true);
              h.setUint32(8, next() % 8 === 0 ? next() : next() % 130, true);
              h.setUint32(12, next() % 8 === 0 ? next() : 0, true);
              const len = next() % 4 === 0 ? next() % 20000 : 512 * (1 + (next() % 8));
              q.add([{ addr: 0x80000, len: 16 }, { addr: 0x81000, len, write: next() % 2 === 0 }, { addr: 0x80100, len: 1, write: true }]);
              q.kick();
            } else if (r < 10) {
              // Plausible descriptors with random flags, lengths and links, then a kick.
              const i = next() % q.size;
              const addr = next() % 8 === 0 ? next() : 0x80000 + (next() % 0x70000);
              q.writeDesc(q.desc, i, addr, next() % 8 === 0 ? next() : next() % 4096, next() & 7, next() % (q.size + 2));
              if (next() % 2) q.writeDesc(0x70000, next() % 8, 0x80000 + (next() % 0x10000), next() % 2048, next() & 7, next() % 9);
              q.publish(next() % (q.size + 1));
              q.kick();
            } else if (r < 13) {
              // Random bytes over a ring or the buffers.
              const at = [q.desc, q.avail, q.used, 0x80000][next() % 4];
              for (let k = 0; k < 8; k++) mem.u8[at + (next() % 64)] = next() & 0xff;
              drv.bar.write(q.notifyOffset, 2, q.index);
            } else if (r < 16) {
              m.input();
            } else if (r < 19) {
              drv.readIsr();
            } else {
              // A register write: anywhere in the BAR, any size, any value.
              const size = ([1, 2, 4] as const)[next() % 3];
              drv.bar.write(next() % 0x4000, size, next());
            }
          }
        } catch (e) {
          if (!(e instanceof GuestError)) throw e;
          kills++;
        } finally {
          m.close();
        }
      }
      assert.ok(kills > 0, 'the hostile guest was caught at least once');
      assert.equal(fs.statSync(disk).size, 64 * 1024);
    });
  }
});
