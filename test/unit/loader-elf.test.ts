import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GuestMemory } from '../../src/guest/memory';
import { GuestRam } from '../../src/launcher/guest-ram';
import { translate } from '../../src/launcher/loaders/page-tables';
import { UserError } from '../../src/launcher/user-error';
import { cString, ensureTools, link, load, MiB, nasm, tmpDir, write } from './loader-helpers';

/**
 * The ELF vmlinux loader and the boot work every Linux format shares (zero
 * page, command line, e820, initrd, GDT), on a vmlinux-like image built with
 * nasm and ld: text and data linked at 0xC0100000 and loaded at 1 MiB.
 */

const PAGE = 4096;

interface Phdr {
  type: number;
  offset: number;
  vaddr: number;
  paddr: number;
  filesz: number;
  memsz: number;
}

function phdrs(elf: Buffer): Phdr[] {
  const off = elf.readUInt32LE(28);
  return Array.from({ length: elf.readUInt16LE(44) }, (_, i) => {
    const at = off + i * 32;
    return {
      type: elf.readUInt32LE(at),
      offset: elf.readUInt32LE(at + 4),
      vaddr: elf.readUInt32LE(at + 8),
      paddr: elf.readUInt32LE(at + 12),
      filesz: elf.readUInt32LE(at + 16),
      memsz: elf.readUInt32LE(at + 20),
    };
  });
}

/** Fill RAM with junk before loading, so anything the loader should clear but does not shows. */
const dirtyRam = (memory: GuestMemory) => {
  memory.u8.fill(0xaa);
  return { memory };
};

describe('loader: ELF vmlinux', function () {
  this.timeout(60000);
  let dir: string;
  let vmlinux: string;
  let vmlinuxVirtualEntry: string;
  let image: Buffer;
  let initrd: string;
  let initrdBytes: Buffer;

  before(() => {
    ensureTools();
    dir = tmpDir();
    const obj = nasm(dir, 'vmlinux', 'elf32');
    vmlinux = link(dir, obj, 'vmlinux.ld', 'vmlinux');
    vmlinuxVirtualEntry = link(dir, obj, 'vmlinux.ld', 'vmlinux-virt', ['--entry=startup_32']);
    image = fs.readFileSync(vmlinux);
    initrdBytes = Buffer.alloc(10000 + 123);
    for (let i = 0; i < initrdBytes.length; i++) initrdBytes[i] = (i * 7) & 0xff;
    initrd = write(dir, 'initrd.img', initrdBytes);
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A copy of the fixture with some bytes changed. */
  function patched(name: string, edit: (b: Buffer) => void): string {
    const b = Buffer.from(image);
    edit(b);
    return write(dir, name, b);
  }

  it('puts each PT_LOAD segment at its physical address and zeroes the bss', () => {
    const { memory, log } = load(vmlinux, { target: dirtyRam });
    const loads = phdrs(image).filter((p) => p.type === 1);
    assert.equal(loads.length, 2);
    for (const p of loads) {
      assert.ok(Buffer.from(memory.u8.subarray(p.paddr, p.paddr + p.filesz)).equals(image.subarray(p.offset, p.offset + p.filesz)));
      assert.ok(memory.u8.subarray(p.paddr + p.filesz, p.paddr + p.memsz).every((b) => b === 0), 'bss is zero');
    }
    assert.ok(log.some((l) => /^Segment 1: 0x139d bytes from file offset 0x2000 at 0x101000 \(0x43a0 in memory/.test(l)), log.join('\n'));
    assert.ok(log.includes('Page offset 0xc0000000'));
    assert.ok(log.includes('Entry point 0x100000'));
  });

  it('starts at the physical entry point, paging off, with the 32-bit boot protocol', () => {
    const { memory, boot } = load(vmlinux, { target: dirtyRam });
    assert.equal(boot.eip, 0x100000);
    assert.equal(boot.cr0 & 0x80000001, 1, 'protected mode, no paging');
    assert.equal(boot.eflags & 0x200, 0, 'interrupts off');
    assert.equal(boot.cs, 0x10);
    assert.equal(boot.ds, 0x18);
    // The GDT: null, unused, flat 4 GiB code and data.
    const gdt = memory.view;
    assert.equal(boot.gdtLimit, 31);
    assert.equal(gdt.getBigUint64(boot.gdtBase, true), 0n);
    assert.equal(gdt.getBigUint64(boot.gdtBase + 8, true), 0n);
    assert.equal(gdt.getBigUint64(boot.gdtBase + 0x10, true), 0x00cf9a000000ffffn);
    assert.equal(gdt.getBigUint64(boot.gdtBase + 0x18, true), 0x00cf92000000ffffn);
    assert.ok(boot.esi >= 0x10000 && boot.esi % PAGE === 0, 'zero page above the BIOS area');
  });

  it('builds a zero page: header, loader type, command line, a PC memory map', () => {
    const cmdline = 'console=ttyS0 root=/dev/vda rw';
    const { memory, boot } = load(vmlinux, { cmdline, mem: 48 * MiB, target: dirtyRam });
    const zp = new DataView(memory.buffer, boot.esi, PAGE);
    assert.equal(zp.getUint16(0x1fe, true), 0xaa55);
    assert.equal(Buffer.from(memory.u8.subarray(boot.esi + 0x202, boot.esi + 0x206)).toString('latin1'), 'HdrS');
    assert.equal(zp.getUint16(0x206, true), 0x0207, 'protocol 2.07, so the kernel reads hardware_subarch');
    assert.equal(zp.getUint8(0x210), 0xff, 'type_of_loader: undefined');
    assert.equal(zp.getUint32(0x23c, true), 0, 'hardware_subarch: PC');
    assert.equal(cString(memory, zp.getUint32(0x228, true)), cmdline);
    assert.equal(zp.getUint32(0x238, true), 2047, 'cmdline_size');
    // Two RAM regions as a PC has: Linux ignores a map of one.
    const e820 = Array.from({ length: zp.getUint8(0x1e8) }, (_, i) => [
      zp.getBigUint64(0x2d0 + i * 20, true),
      zp.getBigUint64(0x2d8 + i * 20, true),
      zp.getUint32(0x2e0 + i * 20, true),
    ]);
    assert.deepEqual(e820, [
      [0n, 0xa0000n, 1],
      [0x100000n, BigInt(47 * MiB), 1],
    ]);
    assert.equal(zp.getUint32(0x1e0, true), 47 * 1024, 'alt_mem_k');
    assert.equal(zp.getUint32(0x218, true), 0, 'no initrd');
    assert.equal(zp.getUint8(0x1ef), 0, 'sentinel clear, so the kernel trusts the page');
  });

  it('puts the initrd at the top of RAM, page aligned, and says where in the zero page', () => {
    const { memory, boot, log } = load(vmlinux, { initrd, target: dirtyRam });
    const zp = new DataView(memory.buffer, boot.esi, PAGE);
    const addr = zp.getUint32(0x218, true);
    assert.equal(zp.getUint32(0x21c, true), initrdBytes.length);
    assert.equal(addr, 64 * MiB - 3 * PAGE, 'top of memory, rounded down to a page');
    assert.ok(Buffer.from(memory.u8.subarray(addr, addr + initrdBytes.length)).equals(initrdBytes));
    assert.ok(log.includes(`Initrd ${initrd}: ${initrdBytes.length} bytes at 0x${addr.toString(16)} (copied)`), log.join('\n'));
  });

  it('maps page-aligned segments from the kernel file, copy on write, and copies the initrd', () => {
    const calls: [number, number, number][] = [];
    const ram = GuestRam.create(32 * MiB);
    try {
      const { boot } = load(vmlinux, {
        initrd,
        mem: 32 * MiB,
        target: () => ({
          memory: ram.memory,
          mapFilePrivate(fd, fileOffset, guestPhys, length) {
            calls.push([fileOffset, guestPhys, length]);
            ram.mapFilePrivate(fd, fileOffset, guestPhys, length);
          },
        }),
      });
      const initrdAt = 32 * MiB - 3 * PAGE;
      // Text (0xbc0 bytes) is less than a page, so copied; data: its whole
      // page mapped and the rest copied; the initrd never mapped.
      assert.deepEqual(calls, [[0x2000, 0x101000, PAGE]]);
      const data = phdrs(image)[1];
      assert.ok(Buffer.from(ram.memory.u8.subarray(data.paddr, data.paddr + data.filesz)).equals(image.subarray(data.offset, data.offset + data.filesz)));
      assert.ok(Buffer.from(ram.memory.u8.subarray(initrdAt, initrdAt + initrdBytes.length)).equals(initrdBytes));
      // The guest may write its pages; the files never change.
      ram.memory.u8.fill(0xee, 0x101000, 0x102000);
      ram.memory.u8.fill(0xee, initrdAt, initrdAt + PAGE);
      assert.ok(fs.readFileSync(vmlinux).equals(image));
      assert.ok(fs.readFileSync(initrd).equals(initrdBytes));
      assert.equal(boot.eip, 0x100000);
    } finally {
      ram.close();
    }
  });

  it('keeps the initrd the guest was given when the file is truncated or rewritten afterwards (no SIGBUS, no new bytes)', () => {
    const copy = path.join(dir, 'initrd-rewritten.img');
    fs.copyFileSync(initrd, copy);
    const ram = GuestRam.create(32 * MiB);
    try {
      load(vmlinux, { initrd: copy, mem: 32 * MiB, target: () => ram });
      const initrdAt = 32 * MiB - 3 * PAGE;
      fs.truncateSync(copy, 0);
      assert.ok(Buffer.from(ram.memory.u8.subarray(initrdAt, initrdAt + initrdBytes.length)).equals(initrdBytes));
      fs.writeFileSync(copy, Buffer.alloc(initrdBytes.length, 0x77));
      assert.ok(Buffer.from(ram.memory.u8.subarray(initrdAt, initrdAt + initrdBytes.length)).equals(initrdBytes));
      assert.equal(ram.busFault(), null);
    } finally {
      ram.close();
    }
  });

  it('starts a kernel whose entry point is virtual paged, on linear page tables below the initrd', () => {
    const { memory, boot, log } = load(vmlinuxVirtualEntry, { initrd, target: dirtyRam });
    assert.equal(boot.eip, 0xc0100000);
    assert.equal((boot.cr0 & 0x80000001) >>> 0, 0x80000001, 'protected mode and paging');
    const initrdAt = 64 * MiB - 3 * PAGE;
    assert.ok(boot.cr3 + PAGE <= initrdAt, 'page directory below the initrd');
    assert.equal(boot.cr3 % PAGE, 0);
    // All of RAM from the page offset, and the low boot data at its own address.
    assert.equal(translate(memory, boot.cr3, 0xc0100000), 0x100000);
    assert.equal(translate(memory, boot.cr3, 0xc0000000 + 64 * MiB - 1), 64 * MiB - 1);
    assert.equal(translate(memory, boot.cr3, 0xc0000000 + 64 * MiB), null);
    assert.equal(translate(memory, boot.cr3, boot.gdtBase), boot.gdtBase);
    assert.equal(translate(memory, boot.cr3, boot.esi), boot.esi);
    assert.equal(memory.view.getUint32(boot.cr3 + (0xc0000000 >>> 22) * 4, true) & 0xfff, 0x7, 'present, writable, user');
    assert.ok(log.some((l) => l.startsWith('Linear mapping of 16384 pages at 0xc0000000 in 16 pte pages')), log.join('\n'));
    assert.ok(log.includes('Entry point 0xc0100000 (paging on)'));
  });

  describe('refuses, naming the file and the reason', () => {
    const refuses = (kernel: () => string, re: RegExp, a: Parameters<typeof load>[1] = {}) => () => {
      const k = kernel();
      assert.throws(
        () => load(k, a),
        (e: unknown) => e instanceof UserError && e.message.includes(`'${k}'`) && re.test(e.message),
      );
    };

    it('an ELF for another machine', refuses(() => patched('x86-64', (b) => b.writeUInt16LE(62, 18)), /ELF machine 62 is not i386/));
    it('an ELF that is not an executable', refuses(() => patched('dyn', (b) => b.writeUInt16LE(3, 16)), /ELF type 3 is not an executable/));
    it('a 64-bit ELF', refuses(() => '/bin/sh', /not a 32-bit ELF file/));
    it(
      'overlapping segments',
      refuses(
        () =>
          patched('overlap', (b) => {
            const at = b.readUInt32LE(28) + 32; // program header 1
            b.writeUInt32LE(0x100800, at + 12);
            b.writeUInt32LE(0xc0100800, at + 8);
          }),
        /ELF segment 1 \(0x100800-0x104ba0\) overlaps ELF segment 0/,
      ),
    );
    it(
      'segments with different page offsets',
      refuses(() => patched('offsets', (b) => b.writeUInt32LE(0xd0101000, b.readUInt32LE(28) + 32 + 8)), /page offset of ELF segment 1 \(0xd0000000\) differs/),
    );
    it('a segment past the end of memory', refuses(() => vmlinux, /ELF segment 1 \(0x101000-0x1053a0\) does not fit in the guest's 1052672 bytes of memory/, { mem: 0x101000 }));
    it('a segment past the end of the file', refuses(() => write(dir, 'short', image.subarray(0, 0x2800)), /truncated: ELF segment 1 extends past the end of the file/));
    it('a kernel larger than memory', refuses(() => vmlinux, /bytes is larger than the guest's 8192 bytes of memory/, { mem: 8192 }));
    it('a file that is no kernel at all', refuses(() => write(dir, 'notes.txt', Buffer.from('just some text\n'.repeat(100))), /not a kernel lguest knows/));
    it('a missing file', refuses(() => path.join(dir, 'nonexistent'), /cannot open kernel .*no such file or directory \(ENOENT\)/));
    it('a command line longer than the kernel takes', refuses(() => vmlinux, /the command line is 3000 bytes, this kernel takes at most 2047/, { cmdline: 'x'.repeat(3000) }));

    it('an initrd larger than memory, naming the initrd', () => {
      const big = write(dir, 'big-initrd', Buffer.alloc(2 * MiB));
      assert.throws(() => load(vmlinux, { initrd: big, mem: 2 * MiB - PAGE }), /^UserError: initrd '.*big-initrd': 2097152 bytes is larger than the guest's 2093056 bytes of memory$/);
    });

    it('an initrd that does not fit above the kernel', () => {
      const big = write(dir, 'mid-initrd', Buffer.alloc(3 * MiB));
      assert.throws(() => load(vmlinux, { initrd: big, mem: 4 * MiB }), /initrd '.*mid-initrd': no room for the initrd \(3 MiB\)/);
    });
  });
});
