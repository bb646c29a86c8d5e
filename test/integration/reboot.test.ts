import { strict as assert } from 'node:assert';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * `reboot` in the guest: the launcher ends with status 0, or with
 * --restart-on-reboot boots the guest again in a fresh launcher that keeps
 * the pid and the standard descriptors. The guest is a small multiboot
 * kernel (test/fixtures/launcher/reboot.asm) that says "booted" on COM1 and
 * then resets the machine on 'r' or powers off on any other key.
 */
const root = path.join(__dirname, '..', '..', '..');
const LGUEST = path.join(root, 'bin', 'lguest');

describe('guest reboot', function () {
  this.timeout(120_000);
  let dir: string;
  let kernel: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-reboot-'));
    kernel = path.join(dir, 'reboot.bin');
    execFileSync('nasm', ['-f', 'bin', '-o', kernel, path.join(root, 'test/fixtures/launcher/reboot.asm')]);
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A launcher on piped stdio, with what it printed so far. */
  function start(args: string[]): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
    const child = spawn(process.execPath, [LGUEST, ...args, '16', kernel], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, output: () => out, exit };
  }

  async function until(test: () => boolean, what: string, output: () => string): Promise<void> {
    const end = Date.now() + 60_000;
    while (!test()) {
      if (Date.now() > end) throw new Error(`no ${what}; the launcher printed:\n${output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const boots = (text: string): number => text.split('booted').length - 1;

  it('ends the launcher with status 0 when the guest reboots', async () => {
    const g = start([]);
    try {
      await until(() => boots(g.output()) === 1, 'boot', g.output);
      g.child.stdin!.write('r');
      assert.equal(await g.exit, 0);
      assert.equal(boots(g.output()), 1);
    } finally {
      g.child.kill('SIGKILL');
    }
  });

  it('boots the guest again in the same process with --restart-on-reboot', async () => {
    const g = start(['--restart-on-reboot']);
    try {
      await until(() => boots(g.output()) === 1, 'first boot', g.output);
      g.child.stdin!.write('r');
      await until(() => boots(g.output()) === 2, 'second boot', g.output);
      g.child.stdin!.write('r');
      await until(() => boots(g.output()) === 3, 'third boot', g.output);
      // Still our child, and its only child is the current waker: the
      // launchers it replaced each waited for theirs.
      assert.equal(g.child.exitCode, null);
      const pid = g.child.pid!;
      const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      assert.equal(children.length, 1, `children of the launcher: ${children.join(', ')}`);
      assert.match(fs.readFileSync(`/proc/${children[0]}/cmdline`, 'utf8'), /waker/);
      // Power off ends it as usual.
      g.child.stdin!.write('q');
      assert.equal(await g.exit, 0);
      assert.equal(boots(g.output()), 3);
    } finally {
      g.child.kill('SIGKILL');
    }
  });
});
