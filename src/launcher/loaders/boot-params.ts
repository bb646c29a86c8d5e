import { GuestMemory } from '../../guest/memory';

/**
 * The "zero page" (struct boot_params) of the Linux boot protocol: the setup
 * header copied from the image (or built, for an ELF vmlinux), then what the
 * boot loader fills in: who we are, where the command line and initrd are,
 * and the memory map. Offsets are those of Documentation/x86/boot.rst and
 * zero-page.rst.
 */

export const ZERO_PAGE_SIZE = 4096;

const EXT_MEM_K = 0x002; // screen_info.ext_mem_k: KiB above 1 MiB, 16 bits
const CL_MAGIC = 0x020; // pre-2.02 command line: magic and offset
const CL_OFFSET = 0x022;
const ALT_MEM_K = 0x1e0;
const E820_ENTRIES = 0x1e8;
const SETUP_HEADER = 0x1f1;
/** The setup header ends here at most; edd_mbr_sig_buffer follows. */
const SETUP_HEADER_END = 0x290;
const BOOT_FLAG = 0x1fe;
const HEADER = 0x202;
const VERSION = 0x206;
const TYPE_OF_LOADER = 0x210;
const LOADFLAGS = 0x211;
const RAMDISK_IMAGE = 0x218;
const RAMDISK_SIZE = 0x21c;
const CMD_LINE_PTR = 0x228;
const INITRD_ADDR_MAX = 0x22c;
const CMDLINE_SIZE = 0x238;
const HARDWARE_SUBARCH = 0x23c;
const E820_TABLE = 0x2d0;

const LOADED_HIGH = 0x01;
const E820_RAM = 1;
const LOADER_UNDEFINED = 0xff; // "boot loader without an assigned id"
const SUBARCH_PC = 0;

/** The protocol version we claim for a header we build ourselves (an ELF vmlinux). */
const BUILT_VERSION = 0x0207;
/** x86 COMMAND_LINE_SIZE is 2048; without a header saying otherwise, that is the limit. */
const DEFAULT_CMDLINE_MAX = 2047;

export interface ZeroPage {
  /** Bytes 0x1f1.. of the image, or undefined to build a minimal header. */
  setupHeader?: Uint8Array;
  memSize: number;
  cmdlineAddr: number;
  initrd?: { addr: number; size: number };
}

/** The protocol version an image's header claims (0 without "HdrS"). */
export function protocolVersion(image: Uint8Array): number {
  if (image.length < VERSION + 2) return 0;
  if (image[HEADER] !== 0x48 || image[HEADER + 1] !== 0x64 || image[HEADER + 2] !== 0x72 || image[HEADER + 3] !== 0x53) return 0;
  return image[VERSION] | (image[VERSION + 1] << 8);
}

/** The setup header's bytes: from 0x1f1 to the end the jump at 0x200 marks. */
export function setupHeaderOf(image: Uint8Array): Uint8Array {
  const end = Math.min(0x202 + image[0x201], SETUP_HEADER_END, image.length);
  return image.subarray(SETUP_HEADER, end);
}

export function writeZeroPage(memory: GuestMemory, addr: number, zp: ZeroPage): void {
  const page = memory.u8.subarray(addr, addr + ZERO_PAGE_SIZE);
  page.fill(0);
  const v = new DataView(memory.buffer, addr, ZERO_PAGE_SIZE);

  if (zp.setupHeader) {
    page.set(zp.setupHeader, SETUP_HEADER);
  } else {
    v.setUint16(BOOT_FLAG, 0xaa55, true);
    page.set([0x48, 0x64, 0x72, 0x53], HEADER);
    v.setUint16(VERSION, BUILT_VERSION, true);
    v.setUint8(LOADFLAGS, LOADED_HIGH);
    v.setUint32(CMDLINE_SIZE, DEFAULT_CMDLINE_MAX, true);
  }
  const version = v.getUint16(VERSION, true);

  v.setUint8(TYPE_OF_LOADER, LOADER_UNDEFINED);
  if (version >= 0x0202) {
    v.setUint32(CMD_LINE_PTR, zp.cmdlineAddr, true);
  } else {
    v.setUint16(CL_MAGIC, 0xa33f, true);
    v.setUint16(CL_OFFSET, zp.cmdlineAddr - addr, true);
  }
  if (zp.initrd) {
    v.setUint32(RAMDISK_IMAGE, zp.initrd.addr, true);
    v.setUint32(RAMDISK_SIZE, zp.initrd.size, true);
  }
  if (version >= 0x0207) v.setUint32(HARDWARE_SUBARCH, SUBARCH_PC, true);

  // The memory map. The original gave one region, 0 to the top of RAM, but a
  // stock kernel ignores a map of fewer than two entries (append_e820_table)
  // and falls back to alt_mem_k. So, as a PC BIOS would: conventional memory
  // below 640 KiB and everything from 1 MiB up. Linux reserves the first
  // page and the BIOS area in between itself (trim_bios_range).
  const regions = e820Regions(zp.memSize);
  v.setUint8(E820_ENTRIES, regions.length);
  regions.forEach((r, i) => {
    const at = E820_TABLE + i * 20;
    v.setBigUint64(at, BigInt(r.base), true);
    v.setBigUint64(at + 8, BigInt(r.size), true);
    v.setUint32(at + 16, E820_RAM, true);
  });
  // The older ways of saying how much memory there is, for older kernels.
  const extK = Math.max(0, zp.memSize - HIGH_MEM_START) / 1024;
  v.setUint32(ALT_MEM_K, extK, true);
  v.setUint16(EXT_MEM_K, Math.min(extK, 0xffff), true);
}

const LOW_MEM_END = 0xa0000;
const HIGH_MEM_START = 0x100000;

/** The RAM regions of a PC with `memSize` bytes: below 640 KiB, and from 1 MiB. */
export function e820Regions(memSize: number): { base: number; size: number }[] {
  const regions = [{ base: 0, size: Math.min(memSize, LOW_MEM_END) }];
  if (memSize > HIGH_MEM_START) regions.push({ base: HIGH_MEM_START, size: memSize - HIGH_MEM_START });
  return regions;
}

/** The longest command line the image's header accepts. */
export function cmdlineMax(setupHeader: Uint8Array | undefined): number {
  if (!setupHeader) return DEFAULT_CMDLINE_MAX;
  const v = new DataView(setupHeader.buffer, setupHeader.byteOffset, setupHeader.byteLength);
  const version = v.getUint16(VERSION - SETUP_HEADER, true);
  if (version >= 0x0206 && setupHeader.length >= CMDLINE_SIZE + 4 - SETUP_HEADER) {
    return v.getUint32(CMDLINE_SIZE - SETUP_HEADER, true);
  }
  return 255; // the limit before protocol 2.06 made it a header field
}

/** Highest address the initrd may end at (exclusive). */
export function initrdLimit(setupHeader: Uint8Array | undefined): number {
  if (setupHeader) {
    const v = new DataView(setupHeader.buffer, setupHeader.byteOffset, setupHeader.byteLength);
    if (v.getUint16(VERSION - SETUP_HEADER, true) >= 0x0203 && setupHeader.length >= INITRD_ADDR_MAX + 4 - SETUP_HEADER) {
      return v.getUint32(INITRD_ADDR_MAX - SETUP_HEADER, true) + 1;
    }
  }
  return 0x37ffffff + 1; // what boot.rst says to assume for older kernels
}
