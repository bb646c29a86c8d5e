import { strict as assert } from 'node:assert';
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { CELLS, FILE_SIZE, FLAG_LIVE, HEADER_SIZE, newHeader, slotFlags } from '../../src/netfile/layout';

/**
 * The shared network file against a hostile host: a filesystem too small for
 * it (a 1 MiB tmpfs this test mounts) and truncation while peers are joined.
 * Before, both killed every launcher on the file with SIGBUS and no message.
 */

const PEER = path.join(__dirname, 'netfile-peer.js');
const macOf = (n: number): string => `0200000000${n.toString(16).padStart(2, '0')}`;

interface Started {
  child: ChildProcess;
  lines: readline.Interface;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** SIGKILL every peer still listed and wait for each to be gone. */
async function killAll(peers: Started[]): Promise<void> {
  for (const p of peers.splice(0)) {
    p.child.kill('SIGKILL');
    await p.exited;
  }
}

function start(file: string, n: number): Started {
  const child = spawn(process.execPath, [PEER, file, macOf(n)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  return { child, lines: readline.createInterface({ input: child.stdout! }), stderr: () => stderr, exited };
}

/** The next stdout line of the peer, or its exit. */
function nextLine(p: Started): Promise<Record<string, unknown> | { exit: { code: number | null; signal: string | null } }> {
  return new Promise((resolve) => {
    p.lines.once('line', (l) => resolve(JSON.parse(l)));
    void p.exited.then((exit) => resolve({ exit }));
  });
}

async function request(p: Started, req: Record<string, unknown>): Promise<Record<string, unknown>> {
  p.child.stdin!.write(JSON.stringify(req) + '\n');
  return (await nextLine(p)) as Record<string, unknown>;
}

function frameHex(dst: string, src: string, tag: number): string {
  const f = Buffer.alloc(64, tag);
  Buffer.from(dst, 'hex').copy(f, 0);
  Buffer.from(src, 'hex').copy(f, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  return f.toString('hex');
}

describe('netfile on a hostile host (tmpfs, truncation)', function () {
  this.timeout(30000);
  let mnt: string;
  const peers: Started[] = [];

  before(function () {
    if (process.getuid?.() !== 0) this.skip();
  });

  beforeEach(() => {
    mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-netfile-tmpfs-'));
  });

  afterEach(async () => {
    await killAll(peers);
    try {
      execFileSync('umount', [mnt]);
    } catch {
      // not mounted
    }
    fs.rmSync(mnt, { recursive: true, force: true });
  });

  function mountTmpfs(size: string): void {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt]);
  }

  it('creating the file on a 1 MiB tmpfs is a one-line ENOSPC error, not SIGBUS', async () => {
    mountTmpfs('1m');
    const file = path.join(mnt, 'net');
    const p = start(file, 1);
    peers.push(p);
    const first = await nextLine(p);
    assert.ok('exit' in first, `joined: ${JSON.stringify(first)}`);
    assert.deepEqual(first.exit, { code: 1, signal: null });
    assert.match(p.stderr(), /^cannot create network file .*net: no space for its \d+ KiB on that filesystem \(ENOSPC\)\n$/);
    assert.ok(!fs.existsSync(file), 'no half-made file left behind');
  });

  it('joining a sparse file made elsewhere on a full filesystem is the same one-line error', async () => {
    mountTmpfs('1m');
    const file = path.join(mnt, 'net');
    const fd = fs.openSync(file, 'w', 0o600);
    fs.ftruncateSync(fd, FILE_SIZE);
    fs.writeSync(fd, newHeader(), 0, HEADER_SIZE, 0);
    fs.closeSync(fd);
    const p = start(file, 1);
    peers.push(p);
    const first = await nextLine(p);
    assert.ok('exit' in first, `joined: ${JSON.stringify(first)}`);
    assert.deepEqual(first.exit, { code: 1, signal: null });
    assert.match(p.stderr(), /^cannot join network file .*net: no space .*\(ENOSPC\)\n$/);
  });

  it('a file truncated while two peers are joined cuts them off with a message; neither dies', async () => {
    mountTmpfs('32m');
    const file = path.join(mnt, 'net');
    const a = start(file, 1);
    peers.push(a);
    assert.deepEqual(await nextLine(a), { slot: 0 });
    const b = start(file, 2);
    peers.push(b);
    assert.deepEqual(await nextLine(b), { slot: 1 });
    assert.deepEqual(await request(a, { op: 'send', frame: frameHex(macOf(2), macOf(1), 1) }), {});
    assert.equal(((await request(b, { op: 'recv' })).frames as string[]).length, 1);

    fs.truncateSync(file, 0);

    assert.deepEqual(await request(a, { op: 'send', frame: frameHex(macOf(2), macOf(1), 2) }), {});
    assert.deepEqual(await request(b, { op: 'recv' }), { frames: [] });
    assert.deepEqual(await request(a, { op: 'recv' }), { frames: [] });
    assert.match(a.stderr(), /^lost: network file .*net was truncated under us \(\d+ pages? gone\): guest network port 0 is off the network\n$/);
    assert.match(b.stderr(), /^lost: network file .*net was truncated under us .*port 1 is off the network\n$/);
    // Still alive and answering.
    assert.deepEqual(await request(a, { op: 'send', frame: frameHex(macOf(2), macOf(1), 3) }), {});
    assert.equal(a.child.exitCode, null);
    assert.equal(b.child.exitCode, null);
  });
});

describe('netfile dead slots (item 9)', function () {
  this.timeout(30000);
  let dir: string;
  const peers: Started[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-netfile-dead-'));
  });

  afterEach(async () => {
    await killAll(peers);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The slot's flags word, read from the file (this process never joins it). */
  function flags(file: string, slot: number): number {
    const fd = fs.openSync(file, 'r');
    try {
      const b = Buffer.alloc(4);
      fs.readSync(fd, b, 0, 4, slotFlags(slot));
      return b.readUInt32LE(0);
    } finally {
      fs.closeSync(fd);
    }
  }

  it('a joining launcher marks slots of killed launchers dead, so nobody copies frames for them', async () => {
    const file = path.join(dir, 'net');
    for (let n = 0; n < 3; n++) {
      const p = start(file, n);
      peers.push(p);
      assert.deepEqual(await nextLine(p), { slot: n });
    }
    // Slots 0 and 1 die without leaving (as SIGKILL or SIGTERM without a tty do).
    for (const p of peers.slice(0, 2)) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
    assert.equal(flags(file, 1) & FLAG_LIVE, FLAG_LIVE, 'still marked live after its owner died');
    const d = start(file, 9);
    peers.push(d);
    assert.deepEqual(await nextLine(d), { slot: 0 });
    assert.equal(flags(file, 1) & FLAG_LIVE, 0, 'the dead slot 1 is no longer live');
    assert.equal(flags(file, 2) & FLAG_LIVE, FLAG_LIVE, 'the living slot 2 is untouched');
    assert.equal(flags(file, 0) & FLAG_LIVE, FLAG_LIVE, 'the newcomer is live');
  });

  it('a sender whose frames pile up in a dead slot\'s ring marks it dead, without anyone joining', async () => {
    const file = path.join(dir, 'net');
    const a = start(file, 1);
    peers.push(a);
    assert.deepEqual(await nextLine(a), { slot: 0 });
    const b = start(file, 2);
    assert.deepEqual(await nextLine(b), { slot: 1 });
    b.child.kill('SIGKILL');
    await b.exited;
    assert.equal(flags(file, 1) & FLAG_LIVE, FLAG_LIVE);
    // More broadcasts than a ring holds: the ring fills, and the sender looks.
    for (let i = 0; i <= CELLS; i++) await request(a, { op: 'send', frame: frameHex('ffffffffffff', macOf(1), i & 0xff) });
    assert.equal(flags(file, 1) & FLAG_LIVE, 0, 'the dead slot is no longer live');
    assert.equal(flags(file, 0) & FLAG_LIVE, FLAG_LIVE, 'the sender is');
  });

  it('a launcher whose start fails after joining leaves its slot (a later device failing)', () => {
    const file = path.join(dir, 'net');
    const kernel = path.join(dir, 'guest.bin');
    const root = path.join(__dirname, '..', '..', '..');
    execFileSync('nasm', ['-f', 'bin', '-o', kernel, path.join(root, 'test/fixtures/launcher/reboot.asm')]);
    const r = spawnSync(process.execPath, [path.join(root, 'bin/lguest'), `--sharenet=${file}`, '--tunnet=bridge:nosuchbr9', '16', kernel], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^lguest: .*nosuchbr9.*\n$/);
    assert.equal(flags(file, 0), 0, 'slot 0 left');
  });
});
