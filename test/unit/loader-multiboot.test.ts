import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { GuestMemory } from '../../src/guest/memory';
import { UserError } from '../../src/launcher/user-error';
import { cString, ensureTools, link, load, MiB, nasm, tmpDir, write } from './loader-helpers';

/**
 * Multiboot kernels, built with nasm: one in ELF form (as kvm-unit-tests
 * are) and one flat binary placed by its header's address fields.
 */

const PAGE = 4096;

const dirtyRam = (memory: GuestMemory) => {
  memory.u8.fill(0xaa);
  return { memory };
};

interface Info {
  flags: number;
  memLower: number;
  memUpper: number;
  cmdline: string;
  mods: { start: number; end: number; name: string }[];
  mmap: { base: bigint; len: bigint; type: number }[];
  loaderName: string;
}

/** Read the multiboot information the way a kernel would. */
function readInfo(memory: GuestMemory, addr: number): Info {
  const v = memory.view;
  const mods = [];
  for (let i = 0; i < v.getUint32(addr + 20, true); i++) {
    const m = v.getUint32(addr + 24, true) + i * 16;
    mods.push({ start: v.getUint32(m, true), end: v.getUint32(m + 4, true), name: cString(memory, v.getUint32(m + 8, true)) });
  }
  const mmap = [];
  const mmapAddr = v.getUint32(addr + 48, true);
  for (let p = mmapAddr; p < mmapAddr + v.getUint32(addr + 44, true); p += v.getUint32(p, true) + 4) {
    mmap.push({ base: v.getBigUint64(p + 4, true), len: v.getBigUint64(p + 12, true), type: v.getUint32(p + 20, true) });
  }
  return {
    flags: v.getUint32(addr, true),
    memLower: v.getUint32(addr + 4, true),
    memUpper: v.getUint32(addr + 8, true),
    cmdline: cString(memory, v.getUint32(addr + 16, true)),
    mods,
    mmap,
    loaderName: cString(memory, v.getUint32(addr + 64, true)),
  };
}

describe('loader: multiboot', function () {
  this.timeout(60000);
  let dir: string;
  let elfPath: string;
  let aoutPath: string;
  let aout: Buffer;

  before(() => {
    ensureTools();
    dir = tmpDir();
    elfPath = link(dir, nasm(dir, 'multiboot-elf', 'elf32'), 'multiboot-elf.ld', 'multiboot-elf');
    aoutPath = nasm(dir, 'multiboot-aout', 'bin');
    aout = fs.readFileSync(aoutPath);
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('boots an ELF with a multiboot header as multiboot, with the information a kernel expects', () => {
    const initrdBytes = Buffer.from('module contents '.repeat(500));
    const initrd = write(dir, 'module.bin', initrdBytes);
    const { memory, boot, log } = load(elfPath, { initrd, cmdline: 'testname arg=1', mem: 32 * MiB, target: dirtyRam });
    const elf = fs.readFileSync(elfPath);

    assert.equal(boot.eax, 0x2badb002);
    assert.equal(boot.eip, 0x20000c);
    assert.equal(boot.cr0 & 0x80000001, 1, 'protected mode, paging off');
    assert.equal(boot.cs, 0x10);
    assert.equal(boot.ds, 0x18);
    assert.equal(memory.view.getBigUint64(boot.gdtBase + 0x10, true), 0x00cf9a000000ffffn);
    assert.ok(Buffer.from(memory.u8.subarray(0x200000, 0x200014)).equals(elf.subarray(0x1000, 0x1014)));
    assert.ok(memory.u8.subarray(0x201013, 0x203014).every((b) => b === 0), 'bss zeroed');

    const info = readInfo(memory, boot.ebx);
    assert.equal(info.flags, 0x1 | 0x4 | 0x8 | 0x40 | 0x200);
    assert.equal(info.memLower, 640);
    assert.equal(info.memUpper, 31 * 1024);
    assert.equal(info.cmdline, `${elfPath} testname arg=1`);
    assert.equal(info.loaderName, 'lguest');
    assert.deepEqual(info.mmap, [
      { base: 0n, len: 0xa0000n, type: 1 },
      { base: 0x100000n, len: BigInt(31 * MiB), type: 1 },
    ]);
    assert.equal(info.mods.length, 1);
    const mod = info.mods[0];
    assert.equal(mod.start % PAGE, 0, 'modules page aligned, as flag 0 asks');
    assert.equal(mod.end - mod.start, initrdBytes.length);
    assert.equal(mod.name, initrd);
    assert.ok(Buffer.from(memory.u8.subarray(mod.start, mod.end)).equals(initrdBytes));
    assert.ok(log.includes('Entry point 0x20000c'));
  });

  it('leaves out the module list when there is no initrd', () => {
    const { memory, boot } = load(elfPath, { cmdline: '' });
    const info = readInfo(memory, boot.ebx);
    assert.equal(info.flags & 0x8, 0);
    assert.equal(info.cmdline, elfPath);
  });

  it('loads a flat binary where its header says (the a.out kludge)', () => {
    const { memory, boot, log } = load(aoutPath, { target: dirtyRam });
    // The header sits 32 bytes into the file at header_addr 0x300020, with
    // load_addr 0x300000: the whole file goes at 3 MiB.
    assert.ok(Buffer.from(memory.u8.subarray(0x300000, 0x300000 + aout.length)).equals(aout));
    assert.ok(memory.u8.subarray(0x300000 + aout.length, 0x300000 + aout.length + 0x5000).every((b) => b === 0), 'bss zeroed');
    assert.equal(memory.u8[0x300000 + aout.length + 0x5000], 0xaa, 'and no further');
    assert.equal(boot.eip, 0x300040);
    assert.equal(boot.eax, 0x2badb002);
    assert.equal(readInfo(memory, boot.ebx).memUpper, 63 * 1024);
    assert.ok(log.includes(`Multiboot kernel: 0x${aout.length.toString(16)} bytes from file offset 0x0 at 0x300000, 0x${(aout.length + 0x5000).toString(16)} in memory`), log.join('\n'));
  });

  describe('refuses, naming the file and the reason', () => {
    /** The a.out kernel with its flags changed, checksum fixed up. */
    function withFlags(name: string, flags: number): string {
      const b = Buffer.from(aout);
      b.writeUInt32LE(flags, 36);
      b.writeUInt32LE((-(0x1badb002 + flags)) >>> 0, 40);
      return write(dir, name, b);
    }

    it('a header requiring a feature lguest lacks', () => {
      const path = withFlags('mb-needs', 0x00010008);
      assert.throws(() => load(path), (e: unknown) => e instanceof UserError && e.message.includes(`'${path}'`) && /requires features lguest does not have \(flags 0x8\)/.test(e.message));
    });

    it('a flat binary without load addresses', () => {
      const path = withFlags('mb-noaddr', 0x2);
      assert.throws(() => load(path), /must be an ELF file/);
    });

    it('an entry point outside the kernel', () => {
      const b = Buffer.from(aout);
      b.writeUInt32LE(0x100000, 32 + 28);
      const path = write(dir, 'mb-entry', b);
      assert.throws(() => load(path), /multiboot entry_addr 0x100000 is outside the loaded kernel/);
    });

    it('a kernel placed past the end of memory', () => {
      assert.throws(() => load(aoutPath, { mem: 3 * MiB }), /the multiboot kernel \(0x300000-0x30505c\) does not fit in the guest's 3 MiB of memory/);
    });
  });
});
