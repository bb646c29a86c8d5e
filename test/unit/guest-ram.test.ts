import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CPU_STATE_BYTES } from '../../src/guest/memory';
import { GuestRam, MAX_GUEST_RAM } from '../../src/launcher/guest-ram';
import { UserError } from '../../src/launcher/user-error';

const PAGE = 4096;

describe('GuestRam', () => {
  it('gives zeroed RAM as one GuestMemory over the mapped region', () => {
    const ram = GuestRam.create(64 * PAGE);
    try {
      assert.equal(ram.memory.size, 64 * PAGE);
      // RAM is the start of a WebAssembly memory, with the CPU's state after it.
      assert.equal(ram.memory.buffer, ram.memory.wasm!.buffer);
      assert.ok(ram.memory.buffer.byteLength >= 64 * PAGE + CPU_STATE_BYTES);
      assert.ok(ram.memory.u8.every((b) => b === 0));
      assert.equal(ram.base % BigInt(PAGE), 0n);
      ram.memory.view.setUint32(63 * PAGE, 0xdeadbeef, true);
      assert.equal(ram.memory.u8[63 * PAGE], 0xef);
    } finally {
      ram.close();
    }
  });

  it('maps a file copy-on-write at a guest physical address', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-ram-'));
    const file = path.join(dir, 'kernel');
    const contents = Buffer.alloc(3 * PAGE);
    contents.write('segment two', 2 * PAGE, 'latin1');
    fs.writeFileSync(file, contents);
    const fd = fs.openSync(file, 'r');
    const ram = GuestRam.create(16 * PAGE);
    try {
      ram.mapFilePrivate(fd, 2 * PAGE, 5 * PAGE, PAGE);
      assert.equal(Buffer.from(ram.memory.slice(5 * PAGE, 11)).toString('latin1'), 'segment two');
      // The pages around it are still RAM.
      ram.memory.u8[4 * PAGE] = 1;
      ram.memory.u8[6 * PAGE] = 1;
      assert.equal(ram.memory.u8[4 * PAGE] + ram.memory.u8[6 * PAGE], 2);
    } finally {
      ram.close();
      fs.closeSync(fd);
    }
  });

  it('gives its file mappings up on close: RAM reads as zero pages again', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-ram-'));
    const file = path.join(dir, 'kernel');
    fs.writeFileSync(file, Buffer.alloc(PAGE, 0x5a));
    const fd = fs.openSync(file, 'r');
    const ram = GuestRam.create(4 * PAGE);
    const { memory } = ram;
    ram.mapFilePrivate(fd, 0, PAGE, PAGE);
    assert.equal(memory.u8[PAGE], 0x5a);
    ram.close();
    fs.closeSync(fd);
    assert.ok(memory.u8.every((b) => b === 0));
  });

  it('refuses sizes the guest or the host cannot have, as user errors', () => {
    assert.throws(() => GuestRam.create(0), (e: Error) => e instanceof UserError && /must be positive/.test(e.message));
    assert.throws(() => GuestRam.create(PAGE + 1), (e: Error) => e instanceof UserError && /multiple of the 4096-byte page/.test(e.message));
    assert.throws(
      () => GuestRam.create(MAX_GUEST_RAM + PAGE),
      (e: Error) => e instanceof UserError && /more than an i386 guest can have \(at most 3072 MiB\)/.test(e.message),
    );
  });

  it('maps the largest guest the i386 can have', () => {
    const ram = GuestRam.create(MAX_GUEST_RAM);
    try {
      ram.memory.u8[MAX_GUEST_RAM - 1] = 7;
      assert.equal(ram.memory.view.getUint8(MAX_GUEST_RAM - 1), 7);
    } finally {
      ram.close();
    }
  });
});
