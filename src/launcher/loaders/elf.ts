import { UserError } from '../user-error';
import { hex } from './image';

/**
 * ELF32 executables: the kernel's vmlinux, the ELF inside a modern bzImage,
 * multiboot kernels. Only what loading needs: the entry point and the
 * PT_LOAD program headers, checked the way the original's map_elf() did (an
 * i386 executable with sane program headers) plus what a loader that never
 * trusts its input must add: segments inside the file, not overlapping, and
 * one consistent virtual-to-physical offset.
 */

const PT_LOAD = 1;
const ET_EXEC = 2;
const EM_386 = 3;
const EHDR_SIZE = 52;
const PHDR_SIZE = 32;

export interface ElfSegment {
  /** Program header index, as readelf numbers them. */
  index: number;
  offset: number;
  vaddr: number;
  paddr: number;
  filesz: number;
  memsz: number;
}

export interface ElfImage {
  entry: number;
  segments: ElfSegment[];
  /** p_vaddr - p_paddr, the same for every segment (mod 2^32). */
  pageOffset: number;
}

export function isElf(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
}

export function parseElf(b: Uint8Array, fail: (reason: string) => UserError): ElfImage {
  if (!isElf(b)) throw fail('not an ELF file');
  if (b.length < EHDR_SIZE) throw fail(`truncated ELF header (${b.length} bytes)`);
  if (b[4] !== 1) throw fail(`not a 32-bit ELF file (ELF class ${b[4]}${b[4] === 2 ? ', 64-bit' : ''})`);
  if (b[5] !== 1) throw fail('not a little-endian ELF file');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const type = v.getUint16(16, true);
  const machine = v.getUint16(18, true);
  if (type !== ET_EXEC) throw fail(`ELF type ${type} is not an executable (ET_EXEC)`);
  if (machine !== EM_386) throw fail(`ELF machine ${machine} is not i386 (EM_386)`);
  const entry = v.getUint32(24, true);
  const phoff = v.getUint32(28, true);
  const phentsize = v.getUint16(42, true);
  const phnum = v.getUint16(44, true);
  if (phentsize !== PHDR_SIZE || phnum < 1 || phnum > 65536 / PHDR_SIZE) {
    throw fail(`malformed ELF header (${phnum} program headers of ${phentsize} bytes)`);
  }
  if (phoff + phnum * PHDR_SIZE > b.length) throw fail('truncated: the ELF program headers are past the end of the file');

  const segments: ElfSegment[] = [];
  let pageOffset: number | undefined;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * PHDR_SIZE;
    if (v.getUint32(at, true) !== PT_LOAD) continue;
    const s: ElfSegment = {
      index: i,
      offset: v.getUint32(at + 4, true),
      vaddr: v.getUint32(at + 8, true),
      paddr: v.getUint32(at + 12, true),
      filesz: v.getUint32(at + 16, true),
      memsz: v.getUint32(at + 20, true),
    };
    if (s.offset + s.filesz > b.length) throw fail(`truncated: ELF segment ${i} extends past the end of the file`);
    if (s.filesz > s.memsz) throw fail(`ELF segment ${i} has more file bytes (0x${hex(s.filesz)}) than memory (0x${hex(s.memsz)})`);
    if (s.paddr + s.memsz > 2 ** 32) throw fail(`ELF segment ${i} goes past 4 GiB`);
    // Every segment must have the same virtual-physical gap: the kernel is
    // linked to run at page_offset + physical, and the boot page tables
    // (ours or its own) map it that way.
    const off = (s.vaddr - s.paddr) >>> 0;
    if (pageOffset === undefined) pageOffset = off;
    else if (off !== pageOffset) {
      throw fail(`page offset of ELF segment ${i} (0x${hex(off)}) differs from the one before (0x${hex(pageOffset)})`);
    }
    segments.push(s);
  }
  if (pageOffset === undefined) throw fail('no loadable (PT_LOAD) segments in the ELF file');

  const byAddr = [...segments].filter((s) => s.memsz > 0).sort((x, y) => x.paddr - y.paddr);
  for (let i = 1; i < byAddr.length; i++) {
    const [a, c] = [byAddr[i - 1], byAddr[i]];
    if (c.paddr < a.paddr + a.memsz) {
      throw fail(
        `ELF segment ${c.index} (0x${hex(c.paddr)}-0x${hex(c.paddr + c.memsz)}) overlaps ELF segment ${a.index} (0x${hex(a.paddr)}-0x${hex(a.paddr + a.memsz)})`,
      );
    }
  }
  return { entry, segments, pageOffset };
}

/**
 * Where execution starts. A physical entry point (the kernel's
 * phys_startup_32) starts with paging off. One that only makes sense as a
 * virtual address, page_offset above a segment, is a kernel that expects to
 * start paged, as the original lguest guests did.
 */
export function elfEntry(elf: ElfImage, fail: (reason: string) => UserError): { eip: number; paged: boolean } {
  const inside = (addr: number) => elf.segments.some((s) => addr >= s.paddr && addr < s.paddr + s.memsz);
  if (inside(elf.entry)) return { eip: elf.entry, paged: false };
  if (elf.pageOffset !== 0 && inside((elf.entry - elf.pageOffset) >>> 0)) return { eip: elf.entry, paged: true };
  throw fail(`ELF entry point 0x${hex(elf.entry)} is outside the loaded segments`);
}
