import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { CELLS, SLOTS } from '../../src/netfile/layout';

/**
 * The shared network file between real processes: each peer is a node
 * process with one ShareNet (netfile-peer.ts), as each launcher would be.
 */

const PEER = path.join(__dirname, 'netfile-peer.js');
const BROADCAST = 'ffffffffffff';

const macOf = (n: number): string => `0200000000${n.toString(16).padStart(2, '0')}`;

function frameHex(dst: string, src: string, tag: number, length = 64): string {
  const f = Buffer.alloc(length, tag);
  Buffer.from(dst, 'hex').copy(f, 0);
  Buffer.from(src, 'hex').copy(f, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  return f.toString('hex');
}

const tagOf = (hex: string): number => Buffer.from(hex, 'hex')[14];

type Reply = Record<string, unknown>;

class Peer {
  private readonly replies: ((r: Reply) => void)[] = [];
  private readonly exited: Promise<number | null>;
  readonly mac: string;

  private constructor(
    private readonly child: ChildProcess,
    readonly slot: number,
    n: number,
    lines: readline.Interface,
  ) {
    this.mac = macOf(n);
    lines.on('line', (l) => this.replies.shift()?.(JSON.parse(l) as Reply));
    this.exited = new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.on('exit', (code) => r(code))));
  }

  /** A peer joined as MAC 02:00:00:00:00:<n>, or how it failed to join. */
  static start(file: string, n: number): Promise<Peer | { code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [PEER, file, macOf(n)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const lines = readline.createInterface({ input: child.stdout! });
    return new Promise((resolve) => {
      lines.once('line', (l) => resolve(new Peer(child, (JSON.parse(l) as { slot: number }).slot, n, lines)));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
  }

  static async join(file: string, n: number): Promise<Peer> {
    const p = await Peer.start(file, n);
    if (!(p instanceof Peer)) throw new Error(`peer ${n} did not join: exit ${p.code}: ${p.stderr}`);
    live.push(p);
    return p;
  }

  request(req: Reply): Promise<Reply> {
    return new Promise((resolve) => {
      this.replies.push(resolve);
      this.child.stdin!.write(JSON.stringify(req) + '\n');
    });
  }

  async send(dst: string, tag: number): Promise<void> {
    await this.request({ op: 'send', frame: frameHex(dst, this.mac, tag) });
  }

  async tags(): Promise<number[]> {
    return ((await this.request({ op: 'recv' })).frames as string[]).map(tagOf);
  }

  /** SIGKILL, and wait until it is gone (its locks with it). */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

const live: Peer[] = [];

describe('netfile between processes', function () {
  let dir: string;
  let file: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-netfile-proc-'));
    file = path.join(dir, 'net');
  });

  afterEach(async () => {
    await Promise.all(live.splice(0).map((p) => p.kill()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`gives slots in order, "No free slots" to a ${SLOTS + 1}th, and a killed peer's slot to the next`, async () => {
    // Started together: racing creators of the file and its FIFOs.
    const first = await Promise.all([0, 1, 2, 3].map((n) => Peer.join(file, n)));
    assert.deepEqual(first.map((p) => p.slot).sort((a, b) => a - b), [0, 1, 2, 3]);
    for (let n = 4; n < SLOTS; n++) assert.equal((await Peer.join(file, n)).slot, n);
    const refused = await Peer.start(file, 99);
    assert.ok(!(refused instanceof Peer));
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, `No free slots in network file ${file}\n`);
    const five = live.find((p) => p.slot === 5)!;
    await five.kill();
    assert.equal((await Peer.join(file, 42)).slot, 5);
  });

  it('delivers unicast, broadcast, multicast and promiscuous copies between processes', async () => {
    const [a, b, c] = [await Peer.join(file, 1), await Peer.join(file, 2), await Peer.join(file, 3)];
    await a.send(b.mac, 1);
    await a.send(BROADCAST, 2);
    await a.send('01005e0000fb', 3);
    assert.deepEqual(await b.tags(), [1, 2, 3]);
    assert.deepEqual(await c.tags(), [2, 3]);
    await c.request({ op: 'promisc', on: true });
    await a.send(b.mac, 4);
    assert.deepEqual(await b.tags(), [4]);
    assert.deepEqual(await c.tags(), [4]);
    assert.deepEqual(await a.tags(), []);
  });

  it('wakes a receiver blocked in poll(2) on its FIFO when a frame arrives, through a symlink too', async () => {
    const link = path.join(dir, 'link');
    fs.symlinkSync(file, link);
    const [a, b] = [await Peer.join(file, 1), await Peer.join(link, 2)];
    const woken = b.request({ op: 'wait' });
    await a.send(b.mac, 7);
    await woken;
    assert.deepEqual(await b.tags(), [7]);
    const wokenA = a.request({ op: 'wait' });
    await b.send(a.mac, 8);
    await wokenA;
    assert.deepEqual(await a.tags(), [8]);
  });

  describe('a sender killed half way through a frame', () => {
    it('does not hold up the others, and its slot goes to a newcomer', async () => {
      const [a, b, c] = [await Peer.join(file, 1), await Peer.join(file, 2), await Peer.join(file, 3)];
      assert.deepEqual((await a.request({ op: 'sendHalf', frame: frameHex(b.mac, a.mac, 66, 1000) })), { paused: true });
      // While it hangs there, holding its reservation, frames behind it get through.
      await c.send(b.mac, 1);
      assert.deepEqual(await b.tags(), [1]);
      await a.kill();
      await c.send(b.mac, 2);
      assert.deepEqual(await b.tags(), [2], 'nothing of the half frame');
      const d = await Peer.join(file, 4);
      assert.equal(d.slot, a.slot);
      await d.send(b.mac, 3);
      await b.send(d.mac, 4);
      assert.deepEqual(await b.tags(), [3]);
      assert.deepEqual(await d.tags(), [4]);
      // Every cell of the ring is usable: a full ring's worth goes through, twice.
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < CELLS; i++) await c.send(b.mac, i & 0xff);
        assert.equal((await b.tags()).length, CELLS);
      }
    });

    it('is cleaned up by the newcomer in its slot, which wakes the receiver', async () => {
      const [a, b] = [await Peer.join(file, 1), await Peer.join(file, 2)];
      await a.request({ op: 'sendHalf', frame: frameHex(b.mac, a.mac, 66, 1500) });
      await a.kill();
      const woken = b.request({ op: 'wait' });
      const d = await Peer.join(file, 4);
      assert.equal(d.slot, a.slot);
      await woken;
      assert.deepEqual(await b.tags(), []);
      await d.send(b.mac, 5);
      assert.deepEqual(await b.tags(), [5]);
    });
  });

  it('gives a killed receiver\'s slot to a newcomer with an empty ring', async () => {
    const [a, b] = [await Peer.join(file, 1), await Peer.join(file, 2)];
    for (let i = 0; i < 5; i++) await a.send(b.mac, i);
    await b.kill();
    const e = await Peer.join(file, 5);
    assert.equal(e.slot, b.slot);
    assert.deepEqual(await e.tags(), []);
    await a.send(b.mac, 6);
    await a.send(e.mac, 7);
    assert.deepEqual(await e.tags(), [7]);
  });

  it('survives senders killed at arbitrary moments of a stream of frames', async () => {
    const b = await Peer.join(file, 2);
    const [survivor, ...doomed] = await Promise.all([10, 11, 12].map((n) => Peer.join(file, n)));
    const collected = b.request({ op: 'collect', senders: 1 });
    const count = 20000;
    const sent = survivor.request({ op: 'blast', dst: b.mac, id: 0, count });
    // Each doomed sender is killed once it is well into its stream, wherever it is then.
    await Promise.all(
      doomed.map(async (d, i) => {
        await d.request({ op: 'blast', dst: b.mac, id: i + 1, count: 1e9, startedAfter: 2000 * (i + 1) });
        await d.kill();
      }),
    );
    const got = (await collected) as { received: Record<string, number>; bad: number; disorder: number };
    assert.equal(got.bad, 0, 'torn or mixed-up frames');
    assert.equal(got.disorder, 0, 'frames out of order within one sender');
    assert.equal(got.received[0] + ((await sent).dropped as number), count);
    // Newcomers take the dead senders' slots, and the ring is whole.
    const newcomers = [await Peer.join(file, 21), await Peer.join(file, 22)];
    const bySlot = (x: number, y: number): number => x - y;
    assert.deepEqual(newcomers.map((n) => n.slot).sort(bySlot), doomed.map((d) => d.slot).sort(bySlot));
    await b.tags();
    for (const n of newcomers) {
      for (let i = 0; i < CELLS; i++) await n.send(b.mac, i & 0xff);
      assert.equal((await b.tags()).length, CELLS);
    }
  });

  it('keeps every frame whole and in order per sender with three senders at once', async () => {
    const b = await Peer.join(file, 2);
    const senders = await Promise.all([10, 11, 12].map((n) => Peer.join(file, n)));
    const count = 20000;
    const collected = b.request({ op: 'collect', senders: senders.length });
    const sent = await Promise.all(senders.map((s, id) => s.request({ op: 'blast', dst: b.mac, id, count })));
    const got = (await collected) as { received: Record<string, number>; bad: number; disorder: number };
    assert.equal(got.bad, 0, 'torn or mixed-up frames');
    assert.equal(got.disorder, 0, 'frames out of order within one sender');
    senders.forEach((_, id) => {
      const dropped = sent[id].dropped as number;
      assert.equal((got.received[id] ?? 0) + dropped, count, `sender ${id}: received + dropped`);
    });
    const total = Object.values(got.received).reduce((x, y) => x + y, 0);
    assert.ok(total > 0);
  });
});
