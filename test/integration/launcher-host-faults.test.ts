import { strict as assert } from 'node:assert';
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The launcher against its host: files changing under it, its terminal
 * hanging up, its waker or itself killed, a guest instruction that would run
 * for minutes. Real launchers, real signals, real terminals (tmux, script).
 */
const root = path.join(__dirname, '..', '..', '..');
const LGUEST = path.join(root, 'bin', 'lguest');

/**
 * Says "ready" on COM1, then reads a page of its own image (mapped from the
 * file) for ever; says "changed" if the page ever reads differently.
 */
const SPIN = `
bits 32
org 0x200000
header: dd 0x1BADB002, 0x00010000, -(0x1BADB002 + 0x00010000)
        dd header, 0x200000, end, end, start
start:  mov esi, msg
.say:   lodsb
        test al, al
        jz .spin
        mov dx, 0x3f8
        out dx, al
        jmp .say
.spin:  cmp dword [data + 4096], 0x5a5a5a5a
        jne .changed
        pause
        jmp .spin
.changed:
        mov esi, changed
.say2:  lodsb
        test al, al
        jz .stop
        mov dx, 0x3f8
        out dx, al
        jmp .say2
.stop:  jmp .stop
msg:    db 'ready', 10, 0
changed: db 'changed', 10, 0
align 4096
data:   times 8192 db 0x5a
end:
`;

/** Says "ready", then sits in hlt for ever (no interrupt ever comes): an idle guest, which runs no slices. */
const IDLE = `
bits 32
org 0x200000
header: dd 0x1BADB002, 0x00010000, -(0x1BADB002 + 0x00010000)
        dd header, 0x200000, end, end, start
start:  mov esi, msg
.say:   lodsb
        test al, al
        jz .idle
        mov dx, 0x3f8
        out dx, al
        jmp .say
.idle:  sti
        hlt
        jmp .idle
msg:    db 'ready', 10, 0
align 4096
data:   times 8192 db 0x5a
end:
`;

/** Says "ready", then one rep lodsb of 4 GiB (minutes of work as one instruction), then "done". */
const REP = `
bits 32
org 0x200000
header: dd 0x1BADB002, 0x00010000, -(0x1BADB002 + 0x00010000)
        dd header, 0x200000, end, end, start
start:  mov esp, 0x90000          ; multiboot gives no stack
        mov esi, ready
        call say
        mov ecx, 0xffffffff
        xor esi, esi
        cld
        rep lodsb
        mov esi, done
        call say
.spin:  jmp .spin
say:    lodsb
        test al, al
        jz .out
        mov dx, 0x3f8
        out dx, al
        jmp say
.out:   ret
ready:  db 'ready', 10, 0
done:   db 'done', 10, 0
end:
`;

interface Launcher {
  child: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function launch(args: string[]): Launcher {
  const child = spawn(process.execPath, [LGUEST, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => out, exit };
}

async function until(test: () => boolean, what: string, output: () => string, limitMs = 60_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!test()) {
    if (Date.now() > end) throw new Error(`no ${what}; the launcher printed:\n${output()}`);
    await sleep(50);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Exit, or null if it takes longer than `ms`. */
async function exitWithin(l: Launcher, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
  return Promise.race([l.exit, sleep(ms).then(() => null)]);
}

function children(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('the launcher against its host (files, terminal, signals)', function () {
  this.timeout(120_000);
  let dir: string;
  let spin: string;
  let rep: string;
  let idle: string;
  const running: Launcher[] = [];

  before(() => {
    for (const tool of ['nasm', 'tmux', 'script']) {
      if (spawnSync(tool, ['-V']).error && spawnSync(tool, ['--version']).error) throw new Error(`${tool} is missing: run scripts/setup`);
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-host-faults-'));
    const build = (name: string, source: string): string => {
      fs.writeFileSync(path.join(dir, `${name}.asm`), source);
      const out = path.join(dir, `${name}.bin`);
      execFileSync('nasm', ['-f', 'bin', '-o', out, path.join(dir, `${name}.asm`)]);
      return out;
    };
    spin = build('spin', SPIN);
    rep = build('rep', REP);
    idle = build('idle', IDLE);
  });

  afterEach(async () => {
    for (const l of running.splice(0)) {
      l.child.kill('SIGKILL');
      await l.exit;
    }
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function start(args: string[]): Launcher {
    const l = launch(args);
    running.push(l);
    return l;
  }

  describe('a rep instruction over 4 GiB (item 5)', () => {
    it('still lets SIGTERM end the launcher at once, terminal restored (on a terminal, where SIGTERM has a handler)', () => {
      const before = path.join(dir, 'term-before');
      const after = path.join(dir, 'term-after');
      const pidFile = path.join(dir, 'term-pid');
      const shell = [
        `stty -a > ${before}`,
        // The launcher is the shell's only child called node.
        `{ sleep 1.5; lg=$(pgrep -P $$ -x node); echo $lg > ${pidFile}; kill -TERM $lg; date +%s%N > sent; } &`,
        `node ${LGUEST} 16 ${rep}`,
        'echo "status=$?"',
        'echo "ms=$(( ($(date +%s%N) - $(cat sent)) / 1000000 ))"',
        `stty -a > ${after}`,
      ].join('\n');
      const r = spawnSync('script', ['-qfec', shell, '/dev/null'], { cwd: dir, encoding: 'utf8', input: '', timeout: 20_000 });
      // A launcher that ignored SIGTERM outlives the script: not the next test's problem.
      try {
        process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL');
      } catch {
        // gone, as it should be
      }
      assert.match(r.stdout, /ready/);
      assert.doesNotMatch(r.stdout, /done/);
      assert.match(r.stdout, /status=143/, r.stdout);
      const ms = Number(/ms=(\d+)/.exec(r.stdout)?.[1]);
      // Unbounded, it is minutes; the margin is for a loaded machine.
      assert.ok(ms < 2500, `SIGTERM took ${ms} ms`);
      assert.equal(fs.readFileSync(after, 'utf8'), fs.readFileSync(before, 'utf8'));
    });

    it('still lets three ^C end the launcher', async () => {
      const l = start(['16', rep]);
      await until(() => l.output().includes('ready'), 'ready', l.output);
      // The rep follows "ready" at once: these all come in during it.
      await sleep(300);
      for (let i = 0; i < 3; i++) {
        l.child.stdin!.write('\x03');
        await sleep(400);
      }
      const exit = await exitWithin(l, 10_000);
      assert.ok(exit, 'three ^C were not served');
      assert.equal(exit.code, 2);
    });
  });

  describe('the kernel file changed under a running guest (item 2)', () => {
    it('rewritten in place, then truncated: the guest keeps its own copy and runs on (a lease)', async () => {
      const kernel = path.join(dir, 'spin-rewritten.bin');
      fs.copyFileSync(spin, kernel);
      const l = start(['--verbose', '16', kernel]);
      await until(() => l.output().includes('ready'), 'ready', l.output);
      // As `cp new vmlinuz` or `> vmlinuz` would: the writer waits for the launcher.
      fs.writeFileSync(kernel, Buffer.alloc(fs.statSync(spin).size, 0x11));
      await until(() => l.output().includes(`${kernel} is being changed: the guest keeps its own copy`), 'the lease break', l.output, 5000);
      fs.truncateSync(kernel, 0);
      await sleep(1000);
      assert.equal(l.child.exitCode, null, l.output());
      assert.doesNotMatch(l.output(), /changed\n|SIGBUS|Error/);
    });

    it('rewritten under an idle guest: SIGIO wakes the launcher, which keeps a copy and lets the writer go on', async () => {
      const kernel = path.join(dir, 'idle-rewritten.bin');
      fs.copyFileSync(idle, kernel);
      const l = start(['--verbose', '16', kernel]);
      await until(() => l.output().includes('ready'), 'ready', l.output);
      await sleep(200);
      const t0 = Date.now();
      fs.writeFileSync(kernel, Buffer.alloc(fs.statSync(idle).size, 0x11));
      assert.ok(Date.now() - t0 < 2000, 'the writer waited for the lease break time');
      await until(() => l.output().includes(`${kernel} is being changed: the guest keeps its own copy`), 'the lease break', l.output, 5000);
      assert.equal(l.child.exitCode, null, l.output());
    });

    it('truncated where no lease is to be had: ends the guest with a one-line reason naming the file, status 1, no SIGBUS', async function () {
      if (process.getuid!() !== 0) this.skip();
      // Someone else's file, and no CAP_LEASE: the kernel gives no lease.
      const kernel = path.join(dir, 'spin-truncated.bin');
      fs.copyFileSync(spin, kernel);
      fs.chmodSync(kernel, 0o644);
      fs.chownSync(kernel, 65534, 65534);
      const child = spawn('setpriv', ['--bounding-set', '-lease', '--inh-caps', '-lease', process.execPath, LGUEST, '16', kernel], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
      const l: Launcher = {
        child,
        output: () => out,
        exit: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
      };
      running.push(l);
      await until(() => l.output().includes('ready'), 'ready', l.output);
      fs.truncateSync(kernel, 0);
      const exit = await exitWithin(l, 10_000);
      assert.ok(exit, 'the guest ran on');
      assert.deepEqual(exit, { code: 1, signal: null }, l.output());
      assert.match(
        l.output(),
        new RegExp(`^ready\nlguest: guest stopped: ${kernel} was truncated or rewritten while the guest ran from it \\(\\d+ pages? gone\\)\n$`),
      );
    });
  });

  describe('the waker killed (item 7)', () => {
    it('is one line and status 1, no stack trace', async () => {
      const l = start(['16', spin]);
      await until(() => l.output().includes('ready'), 'ready', l.output);
      const [waker] = children(l.child.pid!);
      assert.ok(waker, 'no waker');
      process.kill(waker, 'SIGKILL');
      const exit = await exitWithin(l, 10_000);
      assert.ok(exit);
      assert.deepEqual(exit, { code: 1, signal: null });
      assert.equal(l.output(), `ready\nlguest: the waker process (pid ${waker}) died: stopping the guest\n`);
    });
  });

  describe('block files that cannot be written (item 6)', () => {
    let mnt = '';
    afterEach(async () => {
      if (!mnt) return;
      // The launchers hold the disk open: they go first.
      for (const l of running.splice(0)) {
        l.child.kill('SIGKILL');
        await l.exit;
      }
      spawnSync('umount', [mnt]);
      fs.rmSync(mnt, { recursive: true, force: true });
      mnt = '';
    });

    /** The launcher gets as far as running the guest, and says the disk is read-only. */
    async function runsWithReadOnlyDisk(args: string[], img: string, prefix: string[] = []): Promise<void> {
      const l = prefix.length
        ? (() => {
            const child = spawn(prefix[0], [...prefix.slice(1), process.execPath, LGUEST, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
            let out = '';
            child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
            child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
            const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
              child.on('exit', (code, signal) => resolve({ code, signal })),
            );
            const launched = { child, output: () => out, exit };
            running.push(launched);
            return launched;
          })()
        : start(args);
      await until(() => l.output().includes('ready') || l.child.exitCode !== null, 'ready', l.output);
      assert.match(l.output(), new RegExp(`Device 1: virtio-blk ${img} \\(read-only\\)\n`), l.output());
      assert.match(l.output(), /ready/);
    }

    it('an image on a read-only mount becomes a read-only disk (was EROFS)', async () => {
      mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-ro-mount-'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
      const img = path.join(mnt, 'disk.img');
      fs.writeFileSync(img, Buffer.alloc(64 * 1024));
      execFileSync('mount', ['-o', 'remount,ro', mnt]);
      await runsWithReadOnlyDisk(['--verbose', `--block=${img}`, '16', spin], img);
    });

    it('someone else\'s image, without the power to override permissions, becomes a read-only disk (was EACCES)', async function () {
      if (process.getuid!() !== 0) this.skip();
      const img = path.join(dir, 'nobodys.img');
      fs.writeFileSync(img, Buffer.alloc(64 * 1024));
      fs.chmodSync(img, 0o644);
      fs.chownSync(img, 65534, 65534);
      const noOverride = '-dac_override,-dac_read_search';
      await runsWithReadOnlyDisk(['--verbose', `--block=${img}`, '16', spin], img, ['setpriv', '--bounding-set', noOverride, '--inh-caps', noOverride]);
    });

    it('--block=<file>,ro asks for a read-only disk', async () => {
      const img = path.join(dir, 'asked.img');
      fs.writeFileSync(img, Buffer.alloc(64 * 1024));
      await runsWithReadOnlyDisk(['--verbose', `--block=${img},ro`, '16', spin], img);
    });
  });

  describe('on a terminal', () => {
    const session = `lguest-faults-${process.pid}`;
    afterEach(() => {
      spawnSync('tmux', ['kill-session', '-t', session]);
    });

    it('the terminal hanging up ends the launcher by SIGHUP, saying so, without an abort (item 4)', async () => {
      // The pane's process stands in for the user's shell: the kernel sends
      // the hang-up to it, the session leader, and, as bash does, it passes
      // SIGHUP on to its job; it lives on to record how the launcher ended.
      const status = path.join(dir, 'hup-status');
      const err = path.join(dir, 'hup-stderr');
      fs.rmSync(status, { force: true });
      const wrapper = path.join(dir, 'hup-wrapper.js');
      fs.writeFileSync(
        wrapper,
        `const fs = require('fs');
         const c = require('child_process').spawn(process.execPath, [${JSON.stringify(LGUEST)}, '16', ${JSON.stringify(spin)}],
           { stdio: ['inherit', 'inherit', fs.openSync(${JSON.stringify(err)}, 'w')] });
         // bash signals the job's whole process group: the waker too, first here.
         process.on('SIGHUP', () => {
           const kids = fs.readFileSync('/proc/' + c.pid + '/task/' + c.pid + '/children', 'utf8').trim().split(/\\s+/).filter(Boolean);
           for (const k of kids) process.kill(Number(k), 'SIGHUP');
           c.kill('SIGHUP');
         });
         c.on('exit', (code, signal) => fs.writeFileSync(${JSON.stringify(status)}, JSON.stringify({ code, signal })));`,
      );
      execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '80', '-y', '24', `${process.execPath} ${wrapper}`]);
      const pane = (): string => {
        try {
          return execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
        } catch {
          return '';
        }
      };
      await until(() => pane().includes('ready'), 'ready in the pane', pane);
      execFileSync('tmux', ['kill-session', '-t', session]);
      await until(() => fs.existsSync(status), 'the launcher ending', () => fs.readFileSync(err, 'utf8'), 10_000);
      assert.deepEqual(JSON.parse(fs.readFileSync(status, 'utf8')), { code: null, signal: 'SIGHUP' });
      const stderr = fs.readFileSync(err, 'utf8');
      assert.doesNotMatch(stderr, /Error|Abort|assert|\bat /, stderr);
      assert.equal(stderr, 'lguest: the terminal hung up (SIGHUP): ending the guest\n');
    });

    it('SIGKILL of the launcher leaves the terminal as it was: the waker puts it back (item 8)', () => {
      const before = path.join(dir, 'kill-before');
      const after = path.join(dir, 'kill-after');
      const wakerPid = path.join(dir, 'kill-waker-pid');
      const shell = [
        `stty -a > ${before}`,
        // The launcher is the shell's only child called node; its waker, its only child.
        `{ sleep 2; lg=$(pgrep -P $$ -x node); pgrep -P $lg > ${wakerPid}; kill -KILL $lg; } &`,
        `node ${LGUEST} 16 ${spin}`,
        'echo "status=$?"',
        `for i in $(seq 100); do kill -0 $(cat ${wakerPid}) 2>/dev/null || break; sleep 0.1; done`,
        `stty -a > ${after}`,
      ].join('\n');
      const r = spawnSync('script', ['-qfec', shell, '/dev/null'], { encoding: 'utf8', input: '', timeout: 30_000 });
      assert.match(r.stdout, /ready/);
      assert.match(r.stdout, /status=137/);
      assert.equal(fs.readFileSync(after, 'utf8'), fs.readFileSync(before, 'utf8'));
    });
  });
});
