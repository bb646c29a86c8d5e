import { BootState } from '../../../guest/boot-state';
import { e820Regions } from '../boot-params';
import { entryState, GDT_SIZE, writeBootGdt } from '../boot-cpu';
import { KernelFormat, LoadContext } from '../context';
import { elfEntry, ElfImage, isElf, parseElf } from '../elf';
import { hex, KernelImage } from '../image';
import { placeInitrd } from '../initrd';
import { BOOT_AREA_FROM } from '../linux-boot';
import { placeFile } from '../place';
import { loadElfSegments } from '../segments';

/**
 * Multiboot (specification 0.6.96), how GRUB boots kernels that are not
 * Linux, and how QEMU's -kernel boots kvm-unit-tests and hobby kernels: a
 * header in the first 8 KiB says what the kernel needs; the kernel is either
 * an ELF file, or says itself where to load it (the "a.out kludge", flag 16);
 * it starts in flat protected mode with %eax = 0x2BADB002 and %ebx = the
 * multiboot information. An ELF carrying a multiboot header boots this way
 * too, as QEMU does.
 */

const HEADER_MAGIC = 0x1badb002;
const BOOTLOADER_MAGIC = 0x2badb002;
const SEARCH = 8192;

const F_PAGE_ALIGN = 1 << 0; // modules page aligned: ours always are
const F_MEMORY_INFO = 1 << 1; // mem_* and mmap: always given
const F_VIDEO_MODE = 1 << 2; // a graphics mode: we have no display
const F_AOUT_KLUDGE = 1 << 16;
const UNDERSTOOD_REQUIRED = F_PAGE_ALIGN | F_MEMORY_INFO | F_VIDEO_MODE;

// multiboot_info flags.
const I_MEMORY = 1 << 0;
const I_CMDLINE = 1 << 2;
const I_MODS = 1 << 3;
const I_MMAP = 1 << 6;
const I_LOADER_NAME = 1 << 9;

const INFO_SIZE = 88;

interface Header {
  offset: number;
  flags: number;
}

function findHeader(b: Uint8Array): Header | null {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const end = Math.min(b.length, SEARCH) - 12;
  for (let i = 0; i <= end; i += 4) {
    if (v.getUint32(i, true) !== HEADER_MAGIC) continue;
    const flags = v.getUint32(i + 4, true);
    if (((HEADER_MAGIC + flags + v.getUint32(i + 8, true)) >>> 0) === 0) return { offset: i, flags };
  }
  return null;
}

/** What to load: the ELF's segments, or one run of the file (a.out kludge). */
type Kernel =
  | { kind: 'elf'; elf: ElfImage; entry: number }
  | { kind: 'aout'; fileOffset: number; loadAddr: number; fileLen: number; memLen: number; entry: number };

export const multibootFormat: KernelFormat = {
  name: 'multiboot',
  probe: (image) => findHeader(image.bytes) !== null,
  parse(image) {
    const fail = (r: string) => image.error(r);
    const h = findHeader(image.bytes)!;
    const unknown = h.flags & 0xffff & ~UNDERSTOOD_REQUIRED;
    if (unknown) throw fail(`the multiboot header requires features lguest does not have (flags 0x${hex(unknown)})`);
    const kernel = h.flags & F_AOUT_KLUDGE ? aoutKernel(image, h) : elfKernel(image);
    return {
      load: (ctx: LoadContext) => loadMultiboot(ctx, image, h, kernel),
    };
  },
};

function elfKernel(image: KernelImage): Kernel {
  const fail = (r: string) => image.error(r);
  if (!isElf(image.bytes)) throw fail('a multiboot kernel without load addresses (flag 16) must be an ELF file');
  const elf = parseElf(image.bytes, fail);
  const entry = elfEntry(elf, fail);
  // Multiboot starts with paging off: a virtual entry point is taken, as
  // QEMU does, to mean the same place at its physical address.
  return { kind: 'elf', elf, entry: entry.paged ? (entry.eip - elf.pageOffset) >>> 0 : entry.eip };
}

function aoutKernel(image: KernelImage, h: Header): Kernel {
  const fail = (r: string) => image.error(r);
  const f = (i: number, what: string) => image.u32(h.offset + 12 + i * 4, what);
  const headerAddr = f(0, 'the multiboot header_addr');
  const loadAddr = f(1, 'the multiboot load_addr');
  const loadEnd = f(2, 'the multiboot load_end_addr');
  const bssEnd = f(3, 'the multiboot bss_end_addr');
  const entry = f(4, 'the multiboot entry_addr');
  if (loadAddr > headerAddr) throw fail(`multiboot load_addr 0x${hex(loadAddr)} is above header_addr 0x${hex(headerAddr)}`);
  // The header's file offset and address pin down where the file is loaded.
  const fileOffset = h.offset - (headerAddr - loadAddr);
  if (fileOffset < 0) throw fail(`multiboot header_addr 0x${hex(headerAddr)} puts the load address before the start of the file`);
  const fileLen = loadEnd === 0 ? image.size - fileOffset : loadEnd - loadAddr;
  if (loadEnd !== 0 && loadEnd < loadAddr) throw fail(`multiboot load_end_addr 0x${hex(loadEnd)} is below load_addr 0x${hex(loadAddr)}`);
  image.need(fileOffset, fileLen, 'the multiboot kernel (load_addr to load_end_addr)');
  const memEnd = bssEnd === 0 ? loadAddr + fileLen : bssEnd;
  if (memEnd < loadAddr + fileLen) throw fail(`multiboot bss_end_addr 0x${hex(bssEnd)} is below the end of the loaded data`);
  if (entry < loadAddr || entry >= memEnd) throw fail(`multiboot entry_addr 0x${hex(entry)} is outside the loaded kernel`);
  return { kind: 'aout', fileOffset, loadAddr, fileLen, memLen: memEnd - loadAddr, entry };
}

function loadMultiboot(ctx: LoadContext, image: KernelImage, h: Header, k: Kernel): BootState {
  const { memory, layout, opts } = ctx;
  const fail = (r: string) => image.error(r);
  const src = { fd: image.fd, bytes: image.bytes, fail };
  if (k.kind === 'elf') {
    loadElfSegments(ctx, k.elf, src);
  } else {
    layout.claim(k.loadAddr, k.memLen, 'the multiboot kernel', fail);
    placeFile(ctx.target, src, k.fileOffset, k.loadAddr, k.fileLen);
    memory.u8.fill(0, k.loadAddr + k.fileLen, k.loadAddr + k.memLen);
    opts.verbose(
      `Multiboot kernel: 0x${hex(k.fileLen)} bytes from file offset 0x${hex(k.fileOffset)} at 0x${hex(k.loadAddr)}, 0x${hex(k.memLen)} in memory`,
    );
  }
  if (h.flags & F_VIDEO_MODE) opts.verbose('The kernel asks for a video mode; lguest has no display and gives none');

  const module = placeInitrd(ctx, { limit: memory.size });

  // The information block, then what it points to, packed together.
  const cmdline = Buffer.from(`${ctx.kernel.path} ${opts.cmdline}`.trimEnd() + '\0', 'utf8');
  const loaderName = Buffer.from('lguest\0', 'latin1');
  const modName = ctx.initrd ? Buffer.from(`${ctx.initrd.path}\0`, 'utf8') : Buffer.alloc(0);
  const regions = e820Regions(memory.size);
  const mmapLen = regions.length * 24;
  const size = GDT_SIZE + INFO_SIZE + mmapLen + (module ? 16 : 0) + cmdline.length + loaderName.length + modName.length;
  const area = layout.lowest(size, BOOT_AREA_FROM, 'the multiboot information', fail);
  memory.u8.fill(0, area, area + size);

  const gdt = area;
  const info = gdt + GDT_SIZE;
  let p = info + INFO_SIZE;
  const put = (bytes: Uint8Array) => {
    memory.u8.set(bytes, p);
    p += bytes.length;
    return p - bytes.length;
  };
  const v = memory.view;
  const mmap = p;
  // The same PC memory map the Linux formats give, in multiboot's layout.
  regions.forEach((r, i) => {
    const at = mmap + i * 24;
    v.setUint32(at, 20, true); // size of the rest of the entry
    v.setBigUint64(at + 4, BigInt(r.base), true);
    v.setBigUint64(at + 12, BigInt(r.size), true);
    v.setUint32(at + 20, 1, true); // available RAM
  });
  p += mmapLen;
  let mods = 0;
  if (module) {
    mods = p;
    p += 16;
  }
  const cmdlineAddr = put(cmdline);
  const loaderNameAddr = put(loaderName);
  if (module) {
    const nameAddr = put(modName);
    v.setUint32(mods, module.addr, true);
    v.setUint32(mods + 4, module.addr + module.size, true);
    v.setUint32(mods + 8, nameAddr, true);
  }

  let flags = I_MEMORY | I_CMDLINE | I_MMAP | I_LOADER_NAME;
  v.setUint32(info + 4, regions[0].size / 1024, true); // mem_lower, KiB
  v.setUint32(info + 8, (regions[1]?.size ?? 0) / 1024, true); // mem_upper, KiB
  v.setUint32(info + 16, cmdlineAddr, true);
  if (module) {
    flags |= I_MODS;
    v.setUint32(info + 20, 1, true);
    v.setUint32(info + 24, mods, true);
  }
  v.setUint32(info + 44, mmapLen, true);
  v.setUint32(info + 48, mmap, true);
  v.setUint32(info + 64, loaderNameAddr, true);
  v.setUint32(info, flags, true);
  writeBootGdt(memory, gdt);

  opts.verbose(`Multiboot information at 0x${hex(info)}, command line "${cmdline.toString('utf8', 0, cmdline.length - 1)}"`);
  opts.verbose(`Entry point 0x${hex(k.entry)}`);
  return entryState({ eip: k.entry, gdt, eax: BOOTLOADER_MAGIC, ebx: info });
}
