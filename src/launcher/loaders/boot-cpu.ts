import { BootState } from '../../guest/boot-state';
import { GuestMemory } from '../../guest/memory';

/**
 * The CPU state every format starts in: protected mode, flat 4 GiB segments
 * from a GDT in guest memory, interrupts off. The Linux 32-bit boot protocol
 * wants __BOOT_CS = 0x10 and __BOOT_DS = 0x18 exactly; multiboot only wants
 * flat segments, and gets the same table.
 */

export const BOOT_CS = 0x10;
export const BOOT_DS = 0x18;
export const GDT_SIZE = 4 * 8;

const CR0_PE = 0x1;
const CR0_ET = 0x10; // hardwired to 1 on every CPU since the 486
const CR0_PG = 0x80000000;
const EFLAGS_RESERVED = 0x2; // bit 1 always reads as 1

/** Writes null, unused, flat code (0x10), flat data (0x18) at `addr`. */
export function writeBootGdt(memory: GuestMemory, addr: number): void {
  memory.u8.fill(0, addr, addr + GDT_SIZE);
  const v = memory.view;
  // base 0, limit 0xfffff pages, G=1, D=1; code: present ring 0 execute/read.
  v.setUint32(addr + 0x10, 0x0000ffff, true);
  v.setUint32(addr + 0x14, 0x00cf9a00, true);
  // data: present ring 0 read/write.
  v.setUint32(addr + 0x18, 0x0000ffff, true);
  v.setUint32(addr + 0x1c, 0x00cf9200, true);
}

export interface EntryRegs {
  eip: number;
  gdt: number;
  eax?: number;
  ebx?: number;
  esi?: number;
  /** The page directory, for images that start with paging on. */
  pgdir?: number;
}

export function entryState(r: EntryRegs): BootState {
  const paged = r.pgdir !== undefined;
  return {
    eip: r.eip >>> 0,
    eax: (r.eax ?? 0) >>> 0,
    ebx: (r.ebx ?? 0) >>> 0,
    ecx: 0,
    edx: 0,
    esi: (r.esi ?? 0) >>> 0,
    edi: 0,
    ebp: 0,
    esp: 0,
    eflags: EFLAGS_RESERVED,
    cr0: (CR0_PE | CR0_ET | (paged ? CR0_PG : 0)) >>> 0,
    cr3: r.pgdir ?? 0,
    cr4: 0,
    gdtBase: r.gdt,
    gdtLimit: GDT_SIZE - 1,
    cs: BOOT_CS,
    ds: BOOT_DS,
  };
}
