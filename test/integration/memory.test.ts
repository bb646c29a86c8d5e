import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { GuestRam } from '../../src/launcher/guest-ram';

/**
 * Guest memory is launcher memory: what the TS side writes at guest physical
 * P is at launcher virtual base + P, seen through another path (the kernel's
 * /proc/self/mem); file mappings behave as mmap promises, across processes.
 */

const PAGE = 4096;
const GUEST_RAM_JS = path.join(__dirname, '..', '..', 'src', 'launcher', 'guest-ram.js');

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-mem-'));
}

describe('guest memory mappings', () => {
  it('puts guest physical P at launcher address base + P (checked through /proc/self/mem)', () => {
    const ram = GuestRam.create(256 * PAGE);
    const mem = fs.openSync('/proc/self/mem', 'r+');
    try {
      const P = 123 * PAGE + 45;
      ram.memory.u8.set([0xc0, 0xff, 0xee], P);
      const seen = Buffer.alloc(3);
      fs.readSync(mem, seen, 0, 3, Number(ram.base) + P);
      assert.deepEqual([...seen], [0xc0, 0xff, 0xee]);

      // And the other way: a write to base + Q is what the guest reads at Q.
      const Q = 255 * PAGE + PAGE - 4;
      fs.writeSync(mem, Buffer.from([1, 2, 3, 4]), 0, 4, Number(ram.base) + Q);
      assert.equal(ram.memory.view.getUint32(Q, true), 0x04030201);
    } finally {
      fs.closeSync(mem);
      ram.close();
    }
  });

  it('leaves a privately mapped file unchanged on disk when the guest writes to it', () => {
    const file = path.join(tmpDir(), 'vmlinux');
    const original = Buffer.alloc(4 * PAGE);
    for (let i = 0; i < original.length; i++) original[i] = i & 0xff;
    fs.writeFileSync(file, original);
    const fd = fs.openSync(file, 'r');
    const ram = GuestRam.create(64 * PAGE);
    try {
      ram.mapFilePrivate(fd, PAGE, 16 * PAGE, 3 * PAGE);
      assert.deepEqual(Buffer.from(ram.memory.slice(16 * PAGE, 3 * PAGE)), original.subarray(PAGE));
      ram.memory.u8.fill(0xaa, 16 * PAGE, 19 * PAGE);
      assert.equal(ram.memory.u8[18 * PAGE + 5], 0xaa);
    } finally {
      ram.close();
      fs.closeSync(fd);
    }
    assert.deepEqual(fs.readFileSync(file), original);
  });

  it('lets two processes that map one file shared see each other\'s writes', async () => {
    const file = path.join(tmpDir(), 'shared');
    fs.writeFileSync(file, Buffer.alloc(2 * PAGE));
    // The other process maps the file's second page at its guest physical
    // 8 pages, then obeys "write <offset> <text>" / "read <offset> <len>".
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const { GuestRam } = require(${JSON.stringify(GUEST_RAM_JS)});
         const fs = require('fs');
         const ram = GuestRam.create(16 * ${PAGE});
         ram.mapFileShared(fs.openSync(process.argv[1], 'r+'), ${PAGE}, 8 * ${PAGE}, ${PAGE});
         console.log('mapped');
         require('readline').createInterface({ input: process.stdin }).on('line', (l) => {
           const [op, off, arg] = l.split(' ');
           const at = 8 * ${PAGE} + Number(off);
           if (op === 'write') { ram.memory.u8.set(Buffer.from(arg), at); console.log('ok'); }
           else console.log(Buffer.from(ram.memory.slice(at, Number(arg))).toString());
         });`,
        file,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const ask = async (cmd?: string): Promise<string> => {
      if (cmd) child.stdin!.write(cmd + '\n');
      const next = await lines.next();
      assert.ok(!next.done, 'the other process ended early');
      return next.value;
    };
    const fd = fs.openSync(file, 'r+');
    const ram = GuestRam.create(32 * PAGE);
    try {
      assert.equal(await ask(), 'mapped');
      // Ours at a different guest address: what matters is the file page.
      ram.mapFileShared(fd, PAGE, 20 * PAGE, PAGE);
      assert.equal(await ask('write 100 hello-from-child'), 'ok');
      assert.equal(Buffer.from(ram.memory.slice(20 * PAGE + 100, 16)).toString(), 'hello-from-child');
      ram.memory.u8.set(Buffer.from('hello-from-parent'), 20 * PAGE + 300);
      assert.equal(await ask('read 300 17'), 'hello-from-parent');
    } finally {
      ram.close();
      fs.closeSync(fd);
      child.stdin!.end();
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.on('exit', r)));
    }
    const disk = fs.readFileSync(file);
    assert.equal(disk.subarray(PAGE + 100, PAGE + 116).toString(), 'hello-from-child');
    assert.equal(disk.subarray(PAGE + 300, PAGE + 317).toString(), 'hello-from-parent');
  });

  it('turns the host refusing the memory into a one-line user error', () => {
    // A 2 GiB address-space limit: Node starts, a 3 GiB guest cannot be mapped.
    const r = spawnSync(
      'prlimit',
      [
        `--as=${2 * 1024 ** 3}`,
        process.execPath,
        '-e',
        `try { require(${JSON.stringify(GUEST_RAM_JS)}).GuestRam.create(3 * 1024 ** 3); console.log('mapped'); }
         catch (e) { console.log(e.name + ': ' + e.message); }`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'UserError: cannot map 3072 MiB of guest memory: the host refused (ENOMEM)');
  });
});
