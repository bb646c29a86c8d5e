import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';

/**
 * The product's promise, tried as a user would: the README's command boots the
 * stock Debian 686 kernel to a busybox shell on a real terminal (a tmux pane),
 * the shell works with a virtio disk, `poweroff` ends the launcher with
 * status 0 and leaves the terminal as it was, and what the guest wrote is in
 * the image file on the host.
 */
const root = path.join(__dirname, '..', '..', '..');
const kernel = path.join(root, '.cache/guest/vmlinuz');
const initrd = path.join(root, '.cache/guest/initramfs.gz');
/** The shell's prompt, without its trailing space (the pane is read without trailing blanks). */
const PROMPT = '/ #';
const BOOT_LIMIT_MS = 20 * 60 * 1000;

function tmux(...args: string[]): string {
  return execFileSync('tmux', args, { encoding: 'utf8' });
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('booting the Debian kernel to a shell (tmux)', function () {
  this.timeout(BOOT_LIMIT_MS + 10 * 60 * 1000);
  const session = `lguest-boot-${process.pid}`;
  let dir: string;
  let disk: string;
  let statusFile: string;
  let sttyBefore: string;
  let sttyAfter: string;

  /**
   * All the pane has shown, scrollback included, without the blank rows
   * below the cursor: those fill up as output arrives, and offsets into the
   * text must only ever grow.
   */
  const screen = (): string => tmux('capture-pane', '-p', '-J', '-S', '-100000', '-t', session).trimEnd();

  /** Waits until `pattern` appears in the pane after `from` characters of it, looking every `everyMs`. */
  async function waitFor(pattern: RegExp | string, from: number, limitMs: number, everyMs = 500): Promise<string> {
    const end = Date.now() + limitMs;
    for (;;) {
      const text = screen().slice(from);
      if (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text)) return text;
      if (Date.now() > end) throw new Error(`no ${pattern} on the console within ${limitMs / 1000} s; it shows:\n${text.slice(-2000)}`);
      await sleep(everyMs);
    }
  }

  /**
   * Types a command and returns what it printed. The end is marked by an echo
   * whose typed form (with quotes) differs from its output, because the
   * guest's line editor wraps long commands and the echo of the command
   * cannot be matched reliably.
   */
  let commands = 0;
  async function shell(command: string, limitMs = 120_000): Promise<string> {
    const mark = `==end${++commands}==`;
    const from = screen().length;
    tmux('send-keys', '-t', session, '-l', `${command}; echo ${mark.slice(0, 5)}""${mark.slice(5)}`);
    tmux('send-keys', '-t', session, 'Enter');
    const text = await waitFor(new RegExp(`\\n${escape(mark)}`), from, limitMs);
    return text.slice(0, text.lastIndexOf(mark));
  }

  before(function () {
    for (const f of [kernel, initrd]) {
      if (!fs.existsSync(f)) throw new Error(`${f} is missing: run scripts/setup`);
    }
    if (spawnSync('tmux', ['-V']).status !== 0) throw new Error('tmux is missing: run scripts/setup');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-boot-'));
    disk = path.join(dir, 'disk.img');
    statusFile = path.join(dir, 'status');
    fs.writeFileSync(disk, Buffer.alloc(0));
    fs.truncateSync(disk, 32 * 1024 * 1024);
    // The pane runs a shell that records the terminal settings, runs the
    // launcher, then records its status and the settings again.
    const script = path.join(dir, 'run.sh');
    fs.writeFileSync(
      script,
      [
        `stty -a > ${dir}/stty-before`,
        `node ${path.join(root, 'bin/lguest')} --block=${disk} --initrd=${initrd} 256 ${kernel}`,
        `echo $? > ${statusFile}.tmp; stty -a > ${dir}/stty-after; mv ${statusFile}.tmp ${statusFile}`,
        'sleep 600',
      ].join('\n'),
    );
    tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '50', `sh ${script}`);
    tmux('set-option', '-t', session, 'history-limit', '100000');
  });

  after(function () {
    spawnSync('tmux', ['kill-session', '-t', session]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('shows the boot log and reaches the busybox prompt', async function () {
    const text = await waitFor(PROMPT, 0, BOOT_LIMIT_MS);
    assert.match(text, /Linux version 6\.1\.\S+-686/);
    assert.match(text, /virtio_blk virtio\d+: \[vda\]/);
  });

  it('runs commands: /proc/cpuinfo and uname', async function () {
    assert.match(await shell('cat /proc/cpuinfo'), /GenuineIntel[\s\S]*cpu family\s*:\s*6[\s\S]*flags\s*:.*\bcmov\b/);
    assert.match(await shell('uname -a'), /Linux \S+ 6\.1\.\S+-686 .* i686/);
    assert.match(await shell('ls /dev/vda'), /\/dev\/vda/);
  });

  it('makes an ext2 filesystem on the virtio disk and writes a file to it', async function () {
    const out = await shell('mke2fs /dev/vda && mount /dev/vda /mnt && echo hello > /mnt/f && umount /mnt && echo disk-done', 600_000);
    assert.match(out, /\ndisk-done/);
  });

  it('sleeps 5 s of host time for `sleep 5`, within 5%', async function () {
    // Not a timed assertion on our speed: it checks that the guest's clock
    // follows the host's, timer slack included. The host times the lines the
    // guest prints just before and just after the sleep, looking every 10 ms.
    const from = screen().length;
    tmux('send-keys', '-t', session, '-l', 'echo before""-sleep; sleep 5; echo after""-sleep');
    tmux('send-keys', '-t', session, 'Enter');
    await waitFor('\nbefore-sleep', from, 120_000, 10);
    const t0 = performance.now();
    await waitFor('\nafter-sleep', from, 120_000, 10);
    const seconds = (performance.now() - t0) / 1000;
    assert.ok(seconds >= 4.75 && seconds <= 5.25, `sleep 5 took ${seconds} s of host time`);
  });

  it('powers off: the launcher exits 0 and the terminal is as it was', async function () {
    tmux('send-keys', '-t', session, '-l', 'poweroff');
    tmux('send-keys', '-t', session, 'Enter');
    const end = Date.now() + 120_000;
    while (!fs.existsSync(statusFile)) {
      if (Date.now() > end) throw new Error(`the launcher did not exit after poweroff; the console shows:\n${screen().slice(-2000)}`);
      await sleep(250);
    }
    assert.equal(fs.readFileSync(statusFile, 'utf8').trim(), '0');
    sttyBefore = fs.readFileSync(path.join(dir, 'stty-before'), 'utf8');
    sttyAfter = fs.readFileSync(path.join(dir, 'stty-after'), 'utf8');
    assert.equal(sttyAfter, sttyBefore);
  });

  it('left an ext2 filesystem on the host image with f = hello', function () {
    const out = execFileSync('debugfs', ['-R', 'cat /f', disk], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.equal(out, 'hello\n');
  });
});
