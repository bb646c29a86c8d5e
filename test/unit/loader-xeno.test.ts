import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { GuestMemory } from '../../src/guest/memory';
import { translate } from '../../src/launcher/loaders/page-tables';
import { UserError } from '../../src/launcher/user-error';
import { cString, ensureTools, load, MiB, nasm, tmpDir, write } from './loader-helpers';

/**
 * Xeno images as the Xeno domain builder loaded them: kernel at physical 0
 * running at its virtual load address, initrd after it, page tables at the
 * top of memory.
 */

const PAGE = 4096;

function xenoImage(loadAddr: number, kernel: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header.write('XenoGues', 0, 'latin1');
  header.writeUInt32LE(loadAddr, 8);
  return Buffer.concat([header, kernel]);
}

describe('loader: Xeno image', function () {
  this.timeout(60000);
  let dir: string;
  let kernel: Buffer;
  let path: string;

  before(() => {
    ensureTools();
    dir = tmpDir();
    kernel = fs.readFileSync(nasm(dir, 'xeno', 'bin'));
    path = write(dir, 'xeno.img', xenoImage(0xc0000000, kernel));
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs the kernel at its load address, paged, from physical 0, initrd after it', () => {
    const initrdBytes = Buffer.from('xeno initrd '.repeat(100));
    const initrd = write(dir, 'xeno-initrd', initrdBytes);
    const mem = 32 * MiB;
    const { memory, boot, log } = load(path, {
      initrd,
      mem,
      cmdline: 'xeno args',
      target: (m: GuestMemory) => {
        m.u8.fill(0xaa);
        return { memory: m };
      },
    });
    assert.ok(Buffer.from(memory.u8.subarray(0, kernel.length)).equals(kernel));
    assert.equal(boot.eip, 0xc0000000);
    assert.equal((boot.cr0 & 0x80000001) >>> 0, 0x80000001);

    // The page directory on the top page, as the builder did.
    assert.equal(boot.cr3, mem - PAGE);
    assert.equal(translate(memory, boot.cr3, 0xc0000000), 0);
    assert.equal(translate(memory, boot.cr3, 0xc0001234), 0x1234);
    assert.equal(translate(memory, boot.cr3, 0xc0000000 + mem - 1), mem - 1);
    assert.equal(translate(memory, boot.cr3, 0xc0000000 + mem), null);
    // The builder's protections: directory entries user+dirty, page entries
    // supervisor, and the page tables' own pages read-only.
    const pde = memory.view.getUint32(boot.cr3 + (0xc0000000 >>> 22) * 4, true);
    assert.equal(pde & 0xfff, 0x67);
    const pte = (virt: number) => {
      const table = (memory.view.getUint32(boot.cr3 + Math.floor(virt / (4 * MiB)) * 4, true) & ~0xfff) >>> 0;
      return memory.view.getUint32(table + ((virt >>> 12) & 1023) * 4, true);
    };
    assert.equal(pte(0xc0000000) & 0xfff, 0x23);
    assert.equal(pte(0xc0000000 + boot.cr3) & 0xfff, 0x21, 'the page directory is mapped read-only');

    const initrdAt = Math.ceil(kernel.length / PAGE) * PAGE;
    const zp = new DataView(memory.buffer, boot.esi, PAGE);
    assert.equal(zp.getUint32(0x218, true), initrdAt);
    assert.equal(zp.getUint32(0x21c, true), initrdBytes.length);
    assert.ok(Buffer.from(memory.u8.subarray(initrdAt, initrdAt + initrdBytes.length)).equals(initrdBytes));
    assert.equal(cString(memory, zp.getUint32(0x228, true)), 'xeno args');
    assert.ok(boot.esi < boot.cr3 && boot.esi > mem - 64 * PAGE, 'start info just below the page tables');
    assert.equal(translate(memory, boot.cr3, boot.gdtBase), boot.gdtBase, 'the GDT is reachable with paging on');
    assert.equal(translate(memory, boot.cr3, boot.esi), boot.esi);
    assert.ok(log.includes(`Xeno kernel: 0x${kernel.length.toString(16)} bytes at 0x0, virtual load address 0xc0000000`), log.join('\n'));
  });

  it('maps only what fits below 4 GiB when memory is larger than the space above the load address', () => {
    const p = write(dir, 'xeno-high', xenoImage(0xfe000000, kernel));
    const { memory, boot } = load(p, { mem: 64 * MiB });
    assert.equal(translate(memory, boot.cr3, 0xfe000000), 0);
    assert.equal(translate(memory, boot.cr3, 0xffffffff), 32 * MiB - 1);
  });

  it('refuses an unaligned load address, naming the file', () => {
    const p = write(dir, 'xeno-unaligned', xenoImage(0xc0000100, kernel));
    assert.throws(() => load(p), (e: unknown) => e instanceof UserError && e.message === `kernel '${p}': the Xeno load address 0xc0000100 is not page aligned`);
  });

  it('refuses a kernel that leaves no room for its page tables', () => {
    const p = write(dir, 'xeno-big', xenoImage(0xc0000000, Buffer.alloc(2 * MiB - 2 * PAGE, 0x90)));
    assert.throws(() => load(p, { mem: 2 * MiB }), /no room for the initial page tables/);
  });
});
