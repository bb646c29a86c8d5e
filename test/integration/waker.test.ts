import { strict as assert } from 'node:assert';
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { lockHolder, tryLock, unlock } from '../../src/launcher/native';

/**
 * A launcher process with a real waker: the run loop (startGuest) around a
 * stand-in guest that only ever halts, fed by the real console input path.
 * What it shows: typed input reaches the launcher through the waker; three
 * ^C end it; a closed stdin does not; and when the launcher is killed, even
 * by SIGKILL, its waker is gone and its fcntl locks are free.
 */

const DIST = path.join(__dirname, '..', '..', 'src');
const js = (p: string): string => JSON.stringify(path.join(DIST, p));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-waker-'));
const LAUNCHER = path.join(dir, 'launcher.js');
fs.writeFileSync(
  LAUNCHER,
  `const fs = require('fs');
   const { startGuest } = require(${js('launcher/run-loop.js')});
   const { ConsoleInput } = require(${js('launcher/terminal.js')});
   const { ConsoleBackend } = require(${js('launcher/devices/console.js')});
   const native = require(${js('launcher/native.js')});
   const say = (s) => fs.writeSync(1, s + '\\n');
   // Hold byte 0 of the lock file, as a sharenet launcher holds its slot.
   const lockFd = fs.openSync(process.argv[2], 'r+');
   if (!native.tryLock(lockFd, 0)) throw new Error('lock busy');
   // A guest that is always idle, with a timer tick every 50 ms; "q" powers it off.
   // Its first run means the terminal and the waker are set up: "ready".
   let started = false;
   const guest = {
     exitCode: null,
     run: () => { if (!started) { started = true; say('ready'); } return 'halt'; },
     msUntilDeadline: () => 50,
   };
   const input = new ConsoleInput(new ConsoleBackend(0, 1), (bytes) => {
     say('got:' + Buffer.from(bytes).toString('hex'));
     if (bytes[0] === 0x71) guest.exitCode = 5;
   }, say);
   startGuest(guest, [input]).then((status) => { say('status:' + status); process.exit(status); });`,
);

/** True once `pid` has exited (gone, or a zombie waiting to be reaped). */
function gone(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z');
  } catch {
    return true;
  }
}

/**
 * Waits for `pid` to exit. The waker reacts to its launcher's death at once
 * (end of file on the control pipe); the generous bound only keeps a busy
 * shared machine from failing the test.
 */
async function waitGone(pid: number): Promise<void> {
  const until = Date.now() + 10_000;
  while (!gone(pid)) {
    assert.ok(Date.now() < until, `process ${pid} is still running`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The waker(s) a launcher started: its children running waker.js. */
function wakersOf(launcherPid: number): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.split(') ')[1].split(' ')[1]);
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (ppid === launcherPid && cmdline.includes('waker.js')) found.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

class Launcher {
  readonly child: ChildProcess;
  private readonly lines: AsyncIterator<string>;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;

  /** The launcher with stdin a pipe, or (pty) inside a pseudo-terminal made by script(1). */
  constructor(lockFile: string, pty: boolean) {
    const argv = [LAUNCHER, lockFile];
    this.child = pty
      ? spawn('script', ['-qfec', [process.execPath, ...argv].join(' '), '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = readline.createInterface({ input: this.child.stdout! })[Symbol.asyncIterator]();
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  async next(): Promise<string> {
    const r = await this.lines.next();
    assert.ok(!r.done, 'the launcher ended early');
    return r.value.replace(/\r$/, '');
  }

  type(text: string): void {
    this.child.stdin!.write(text);
  }
}

function lockFile(): { file: string; fd: number } {
  const file = path.join(fs.mkdtempSync(path.join(dir, 'lock-')), 'slots');
  fs.writeFileSync(file, Buffer.alloc(64));
  return { file, fd: fs.openSync(file, 'r+') };
}

describe('launcher and waker', () => {
  it('gets typed input through the waker, raw, and ends on three ^C', async () => {
    const { file, fd } = lockFile();
    const l = new Launcher(file, true);
    try {
      assert.equal(await l.next(), 'ready');
      // Raw: CR stays CR, and ^C is a byte for the guest, not a signal.
      l.type('a\r');
      assert.equal(await l.next(), 'got:610d');
      for (let i = 0; i < 3; i++) {
        l.type('\x03');
        assert.equal(await l.next(), 'got:03');
      }
      assert.equal(await l.next(), 'status:2');
      assert.equal((await l.exited).code, 2);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('keeps running when stdin ends, until a signal ends it and its waker', async () => {
    const { file, fd } = lockFile();
    const l = new Launcher(file, false);
    try {
      assert.equal(await l.next(), 'ready');
      const [waker] = wakersOf(l.child.pid!);
      assert.ok(waker, 'no waker process');
      l.type('hi');
      assert.equal(await l.next(), 'got:6869');
      l.child.stdin!.end();
      assert.match(await l.next(), /end of input/);
      // Still alive and idle; now let it finish the way a guest does.
      assert.equal(gone(l.child.pid!), false);
      process.kill(l.child.pid!, 'SIGTERM');
      assert.equal((await l.exited).signal, 'SIGTERM');
      await waitGone(waker);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('ends with the guest\'s status when it powers off, and stops its waker', async () => {
    const { file, fd } = lockFile();
    const l = new Launcher(file, false);
    try {
      assert.equal(await l.next(), 'ready');
      const [waker] = wakersOf(l.child.pid!);
      l.type('q');
      assert.equal(await l.next(), 'got:71');
      assert.equal(await l.next(), 'status:5');
      assert.equal((await l.exited).code, 5);
      await waitGone(waker);
      assert.equal(lockHolder(fd, 0), 0);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('leaves no waker and no lock behind when the launcher is SIGKILLed', async () => {
    const { file, fd } = lockFile();
    const l = new Launcher(file, false);
    try {
      assert.equal(await l.next(), 'ready');
      const wakers = wakersOf(l.child.pid!);
      assert.equal(wakers.length, 1, `wakers: ${wakers}`);
      assert.equal(gone(wakers[0]), false);
      assert.equal(lockHolder(fd, 0), l.child.pid);
      assert.equal(tryLock(fd, 0), false);

      l.child.kill('SIGKILL');
      assert.equal((await l.exited).signal, 'SIGKILL');
      await waitGone(wakers[0]);
      assert.equal(lockHolder(fd, 0), 0);
      assert.equal(tryLock(fd, 0), true);
      unlock(fd, 0);
    } finally {
      fs.closeSync(fd);
    }
  });
});
