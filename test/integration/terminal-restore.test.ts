import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The launcher leaves the user's terminal as it found it when the guest
 * powers off, also once its waker has exited after it (a Node process puts
 * its stdio terminals back at exit as it found them at start, so a waker
 * holding the terminal as its stderr would make it raw again).
 */
const root = path.join(__dirname, '..', '..', '..');

/** A multiboot guest that prints "K" on COM1 and powers off (hlt with interrupts off). */
const GUEST = `
bits 32
org 0x100000
header: dd 0x1BADB002, 0x00010000, -(0x1BADB002 + 0x00010000)
        dd header, 0x100000, end, end, start
start:  mov dx, 0x3f8
        mov al, 'K'
        out dx, al
        cli
        hlt
end:
`;

describe('the terminal after the guest powers off', function () {
  this.timeout(60_000);
  let dir: string;
  let guest: string;

  before(function () {
    for (const tool of ['nasm', 'script']) {
      if (spawnSync(tool, ['--version']).error) throw new Error(`${tool} is missing: run scripts/setup`);
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-tty-'));
    fs.writeFileSync(path.join(dir, 'guest.asm'), GUEST);
    guest = path.join(dir, 'guest.bin');
    execFileSync('nasm', ['-f', 'bin', '-o', guest, path.join(dir, 'guest.asm')]);
  });

  after(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is as it was, after the launcher and its waker have both exited', function () {
    const before = path.join(dir, 'before');
    const after = path.join(dir, 'after');
    // The waker goes when its control pipe closes; waiting for every process
    // running the waker script to be gone makes the check see its exit too.
    const shell = [
      `stty -a > ${before}`,
      `node ${path.join(root, 'bin/lguest')} 16 ${guest}`,
      'echo "status=$?"',
      // ([w] keeps pgrep from matching this shell's own command line.)
      `for i in $(seq 100); do pgrep -f '${path.join(root, 'dist/src/waker')}/[w]aker.js' >/dev/null || break; sleep 0.1; done`,
      `stty -a > ${after}`,
    ].join('; ');
    const r = spawnSync('script', ['-qfec', shell, '/dev/null'], { encoding: 'utf8', input: '', timeout: 30_000 });
    assert.match(r.stdout, /K/);
    assert.match(r.stdout, /status=0/);
    assert.equal(fs.readFileSync(after, 'utf8'), fs.readFileSync(before, 'utf8'));
  });
});
