import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ShareNetBackend } from '../../src/launcher/devices/sharenet';
import { poll, pollEvents } from '../../src/launcher/native';
import { UserError } from '../../src/launcher/user-error';
import {
  CELLS,
  FILE_SIZE,
  HEADER_SIZE,
  headerProblem,
  lapOf,
  MAX_FRAME,
  newHeader,
  Phase,
  previousLap,
  SLOTS,
  stateLap,
  stateOwner,
  statePhase,
  stateWord,
} from '../../src/netfile/layout';
import { ShareNet } from '../../src/netfile/sharenet';
import { wakePath } from '../../src/netfile/wake';

/**
 * The shared network file within one process: several ShareNets on one file
 * (the process keeps one descriptor and one map for them all). The
 * multi-process behaviour, including senders killed mid-frame, is in
 * test/integration/netfile-processes.test.ts.
 *
 * Nothing here opens a joined file with fs: closing that descriptor would
 * drop this process's slot locks (see src/netfile/file.ts).
 */

const BROADCAST = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const IPV4_MULTICAST = Uint8Array.from([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]);

function mac(n: number): Uint8Array {
  return Uint8Array.from([0x02, 0x00, 0x00, 0x00, 0x00, n]);
}

/** An Ethernet frame to `dst` from `src`, with `tag` as its payload's first byte. */
function frame(dst: Uint8Array, src: Uint8Array, tag: number, length = 64): Uint8Array {
  const f = new Uint8Array(length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  f[14] = tag;
  for (let i = 15; i < length; i++) f[i] = (tag + i) & 0xff;
  return f;
}

/** Every frame waiting for `port`, as arrays of bytes. */
function receiveAll(port: ShareNet): Uint8Array[] {
  const got: Uint8Array[] = [];
  const buf = new Uint8Array(MAX_FRAME);
  for (let n = port.receive(buf); n > 0; n = port.receive(buf)) got.push(buf.slice(0, n));
  return got;
}

function tags(port: ShareNet): number[] {
  return receiveAll(port).map((f) => f[14]);
}

function readable(fd: number): boolean {
  return poll([{ fd, events: pollEvents().IN }], 0)[0] !== 0;
}

describe('netfile', () => {
  let dir: string;
  let file: string;
  const ports: ShareNet[] = [];

  function join(n: number): ShareNet {
    const p = ShareNet.join(file, mac(n));
    ports.push(p);
    return p;
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-netfile-'));
    file = path.join(dir, 'net');
  });

  afterEach(() => {
    for (const p of ports.splice(0)) p.leave();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('layout', () => {
    it('packs lap, phase and owner into a state word and back', () => {
      for (const lap of [0, 1, 0x7fffff, 0x800000, 0xffffff]) {
        for (const phase of [Phase.Free, Phase.Reserved, Phase.Committed, Phase.Spent]) {
          const w = stateWord(lap, phase, 13);
          assert.equal(w | 0, w, 'fits an Int32Array element');
          assert.deepEqual([stateLap(w), statePhase(w), stateOwner(w)], [lap, phase, 13]);
        }
      }
    });

    it('counts laps modulo 2^24 as positions wrap at 2^32', () => {
      assert.equal(lapOf(CELLS - 1), 0);
      assert.equal(lapOf(CELLS), 1);
      assert.equal(lapOf(0xffffffff), 0xffffff);
      assert.equal(lapOf((0xffffffff + 1) >>> 0), 0);
      assert.equal(previousLap(0), 0xffffff);
      // A zero word is a free cell on lap 0: a zeroed file is an empty network.
      assert.equal(stateWord(0, Phase.Free, 0), 0);
    });

    it('accepts its own header and names what is wrong with others', () => {
      const good = newHeader();
      assert.equal(headerProblem(good, FILE_SIZE), null);
      assert.match(headerProblem(Buffer.alloc(HEADER_SIZE), 0)!, /is empty/);
      assert.match(headerProblem(Buffer.alloc(HEADER_SIZE), FILE_SIZE)!, /bad magic/);
      const v2 = Buffer.from(good);
      v2.writeUInt32LE(2, 8);
      assert.match(headerProblem(v2, FILE_SIZE)!, /version 2 .*understands version 1/);
      const geometry = Buffer.from(good);
      geometry.writeUInt32LE(32, 12);
      assert.match(headerProblem(geometry, FILE_SIZE)!, /has 32 slots/);
      assert.match(headerProblem(good, FILE_SIZE - 4096)!, /truncated or corrupt/);
      assert.match(headerProblem(good, 100)!, /is 100 bytes/);
    });
  });

  describe('the file', () => {
    it('is created mode 0600 with the header and full size, and its FIFOs too', () => {
      join(1).leave();
      const st = fs.statSync(file);
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal(st.size, FILE_SIZE);
      const head = fs.readFileSync(file).subarray(0, HEADER_SIZE);
      assert.equal(headerProblem(head, st.size), null);
      const fifo = fs.statSync(wakePath(file, 0));
      assert.ok(fifo.isFIFO());
      assert.equal(fifo.mode & 0o777, 0o600);
      // No temporary file is left behind.
      assert.deepEqual(fs.readdirSync(dir).sort(), ['net', 'net.0.wake']);
    });

    it('is created under an unfriendly umask with exactly mode 0600', () => {
      const old = process.umask(0o277);
      try {
        join(1);
      } finally {
        process.umask(old);
      }
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    });

    for (const [what, contents, reason] of [
      ['an empty file', Buffer.alloc(0), /is empty/],
      ['the original launcher’s one zero page', Buffer.alloc(4096), /bad magic/],
      ['a truncated file', newHeader(), /is 4096 bytes, not \d+: truncated/],
      ['another version', Buffer.concat([newHeader().fill(0, 8, 12).fill(7, 8, 9), Buffer.alloc(FILE_SIZE - HEADER_SIZE)]), /version 7/],
    ] as const) {
      it(`refuses ${what} with a UserError naming it, and leaves it alone`, () => {
        fs.writeFileSync(file, contents);
        assert.throws(
          () => join(1),
          (e: Error) => e instanceof UserError && e.message.startsWith(`network file ${file} `) && reason.test(e.message),
        );
        assert.deepEqual(fs.readFileSync(file), contents);
      });
    }

    it('refuses a directory, and a non-FIFO where a wake-up FIFO goes', () => {
      fs.mkdirSync(file);
      assert.throws(() => join(1), (e: Error) => e instanceof UserError && e.message.includes(file));
      fs.rmdirSync(file);
      fs.writeFileSync(wakePath(file, 0), 'not a fifo');
      assert.throws(() => join(1), (e: Error) => e instanceof UserError && /net\.0\.wake .*not a FIFO/.test(e.message));
      // The failed join gave its slot back.
      fs.rmSync(wakePath(file, 0));
      assert.equal(join(1).slot, 0);
    });
  });

  describe('slots', () => {
    it('are taken first free first, and given back by leave', () => {
      const [a, b, c] = [join(1), join(2), join(3)];
      assert.deepEqual([a.slot, b.slot, c.slot], [0, 1, 2]);
      b.leave();
      assert.equal(join(4).slot, 1);
      assert.equal(join(5).slot, 3);
    });

    it(`run out after ${SLOTS}: "No free slots in network file <file>"`, () => {
      for (let i = 0; i < SLOTS; i++) join(i);
      assert.throws(() => join(99), (e: Error) => e instanceof UserError && e.message === `No free slots in network file ${file}`);
    });
  });

  describe('delivery', () => {
    it('sends a unicast frame only to the slot with its MAC', () => {
      const [a, b, c] = [join(1), join(2), join(3)];
      a.send(frame(mac(2), mac(1), 10));
      a.send(frame(mac(9), mac(1), 11));
      assert.deepEqual(tags(b), [10]);
      assert.deepEqual(tags(c), []);
      assert.deepEqual(tags(a), []);
    });

    it('sends broadcast and multicast to every other slot, never back to the sender', () => {
      const [a, b, c] = [join(1), join(2), join(3)];
      a.send(frame(BROADCAST, mac(1), 20));
      a.send(frame(IPV4_MULTICAST, mac(1), 21));
      assert.deepEqual(tags(b), [20, 21]);
      assert.deepEqual(tags(c), [20, 21]);
      assert.deepEqual(tags(a), []);
    });

    it('gives a promiscuous slot every frame, until it is not promiscuous', () => {
      const [a, b, c] = [join(1), join(2), join(3)];
      c.setPromiscuous(true);
      a.send(frame(mac(2), mac(1), 30));
      b.send(frame(mac(7), mac(2), 31));
      assert.deepEqual(tags(c), [30, 31]);
      assert.deepEqual(tags(b), [30]);
      c.setPromiscuous(false);
      a.send(frame(mac(2), mac(1), 32));
      assert.deepEqual(tags(c), []);
    });

    it('routes by a changed MAC', () => {
      const [a, b] = [join(1), join(2)];
      b.setMac(mac(42));
      a.send(frame(mac(2), mac(1), 40));
      a.send(frame(mac(42), mac(1), 41));
      assert.deepEqual(tags(b), [41]);
    });

    it('carries frames of every length intact, and drops what cannot be Ethernet in a cell', () => {
      const [a, b] = [join(1), join(2)];
      const lengths = [14, 60, 1514, 1518, MAX_FRAME];
      for (const n of lengths) a.send(frame(mac(2), mac(1), n & 0xff, n));
      a.send(frame(mac(2), mac(1), 1, MAX_FRAME + 1));
      a.send(new Uint8Array(13).fill(0xff));
      const got = receiveAll(b);
      assert.deepEqual(
        got.map((f) => f.length),
        lengths,
      );
      for (const f of got) assert.deepEqual(f, frame(mac(2), mac(1), f.length & 0xff, f.length));
      assert.equal(a.droppedSize, 2);
    });

    it(`drops frames for a full ring (${CELLS} cells) instead of waiting, and keeps order`, () => {
      const [a, b] = [join(1), join(2)];
      for (let i = 0; i < CELLS + 44; i++) a.send(frame(mac(2), mac(1), i & 0xff));
      assert.equal(a.droppedFull, 44);
      const got = tags(b);
      assert.equal(got.length, CELLS);
      assert.deepEqual(got, Array.from({ length: CELLS }, (_, i) => i & 0xff));
      // Room again once read, across the ring's wrap.
      for (let lap = 0; lap < 3; lap++) {
        for (let i = 0; i < CELLS - 1; i++) a.send(frame(mac(2), mac(1), i & 0xff));
        assert.equal(tags(b).length, CELLS - 1);
      }
      assert.equal(a.droppedFull, 44);
    });

    it('reclaims a reservation whose sender is gone, and delivers what follows it', () => {
      const [b, c] = [join(2), join(3)];
      // A sender whose send stops half way (in one process, like one that was killed there).
      const dying = ShareNet.join(file, mac(1), {
        halfWritten: () => {
          throw new Error('stop here');
        },
      });
      ports.push(dying);
      assert.throws(() => dying.send(frame(mac(2), mac(1), 50)), /stop here/);
      c.send(frame(mac(2), mac(3), 51));
      assert.deepEqual(tags(b), [51]);
      // The ring is whole: all its cells are usable again.
      for (let i = 0; i < CELLS; i++) c.send(frame(mac(2), mac(3), i & 0xff));
      assert.equal(c.droppedFull, 0);
      assert.equal(tags(b).length, CELLS);
    });
  });

  describe('a newcomer in a freed slot', () => {
    it('starts with an empty ring, its own MAC and no promiscuity', () => {
      const [a, b] = [join(1), join(2)];
      b.setPromiscuous(true);
      for (let i = 0; i < 5; i++) a.send(frame(mac(2), mac(1), i));
      b.leave();
      const c = join(3);
      assert.equal(c.slot, b.slot);
      assert.deepEqual(tags(c), []);
      a.send(frame(mac(2), mac(1), 60));
      a.send(frame(mac(3), mac(1), 61));
      assert.deepEqual(tags(c), [61]);
    });
  });

  describe('wake-ups', () => {
    it('make the wake FIFO readable when a frame arrives for a receiver that found nothing', () => {
      const [a, b] = [join(1), join(2)];
      assert.equal(readable(b.wakeFd), false);
      a.send(frame(mac(2), mac(1), 70));
      assert.equal(readable(b.wakeFd), true);
      b.drain();
      assert.equal(readable(b.wakeFd), false);
      // Not re-armed until the receiver has found its ring empty.
      a.send(frame(mac(2), mac(1), 71));
      assert.equal(readable(b.wakeFd), false);
      assert.deepEqual(tags(b), [70, 71]);
      a.send(frame(mac(2), mac(1), 72));
      assert.equal(readable(b.wakeFd), true);
    });

    it('go only to receivers of the frame', () => {
      const [a, b, c] = [join(1), join(2), join(3)];
      a.send(frame(mac(3), mac(1), 80));
      assert.equal(readable(b.wakeFd), false);
      assert.equal(readable(c.wakeFd), true);
    });
  });

  describe('ShareNetBackend', () => {
    it('is a virtio-net back end: poll() gives frames, onReadable() quiets the descriptor', () => {
      const a = join(1);
      const back = ShareNetBackend.open(file, mac(2));
      try {
        a.send(frame(mac(2), mac(1), 90));
        assert.equal(readable(back.fd), true);
        back.onReadable();
        assert.equal(readable(back.fd), false);
        assert.deepEqual(back.poll(), frame(mac(2), mac(1), 90));
        assert.equal(back.poll(), null);
        back.send(frame(mac(1), mac(2), 91));
        assert.deepEqual(tags(a), [91]);
      } finally {
        back.close();
      }
    });
  });
});
