import { BootState } from '../../guest/boot-state';
import { cmdlineMax, initrdLimit, writeZeroPage, ZERO_PAGE_SIZE } from './boot-params';
import { entryState, writeBootGdt } from './boot-cpu';
import { LoadContext } from './context';
import { hex } from './image';
import { placeInitrd } from './initrd';
import { PAGE, pageUp } from './layout';
import { planPageTables, PTE_PRESENT, PTE_RW, PTE_USER, translate, writePageTables } from './page-tables';

/**
 * Boot parameters go at or above 64 KiB: clear of the real-mode interrupt
 * table and BIOS data area a kernel may look at, where a PC boot loader would
 * have put the real-mode kernel.
 */
export const BOOT_AREA_FROM = 0x10000;

/** The original's PAGE_PRESENT: present, writable, user. */
const LGUEST_PAGE_FLAGS = PTE_PRESENT | PTE_RW | PTE_USER;

export interface LinuxEntry {
  /** The image's setup header (bytes from 0x1f1), or none to build one. */
  setupHeader?: Uint8Array;
  /** Where to start: physical, or virtual when pagedAt is set. */
  entry: number;
  /** For kernels that start paged: the page offset RAM is mapped at. */
  pagedAt?: number;
}

/**
 * The rest of the Linux 32-bit boot protocol once the kernel itself is in
 * place: the initrd at the top of RAM, linear page tables below it if the
 * kernel starts paged, then the zero page, the boot GDT and the command line
 * low in memory, and %esi pointing at the zero page.
 */
export function bootLinux(ctx: LoadContext, k: LinuxEntry): BootState {
  const { memory, layout, opts } = ctx;
  const cmdline = Buffer.from(opts.cmdline, 'utf8');
  const max = cmdlineMax(k.setupHeader);
  if (cmdline.length > max) throw ctx.fail(`the command line is ${cmdline.length} bytes, this kernel takes at most ${max}`);

  const initrd = placeInitrd(ctx, { limit: initrdLimit(k.setupHeader) });

  let pgdir: number | undefined;
  if (k.pagedAt !== undefined) {
    const mapping = { virtualBase: k.pagedAt, pdeFlags: LGUEST_PAGE_FLAGS, pteFlags: LGUEST_PAGE_FLAGS };
    const plan = planPageTables(memory.size, mapping);
    const at = layout.highest(plan.bytes, memory.size, 'the initial page tables', ctx.fail);
    pgdir = writePageTables(memory, mapping, plan, at, opts.verbose);
  }

  const cmdlineBytes = pageUp(cmdline.length + 1);
  const area = layout.lowest(ZERO_PAGE_SIZE + PAGE + cmdlineBytes, BOOT_AREA_FROM, 'the boot parameters', ctx.fail);
  const zeroPage = area;
  const gdt = area + ZERO_PAGE_SIZE;
  const cmdlineAddr = gdt + PAGE;
  memory.u8.set(cmdline, cmdlineAddr);
  memory.u8[cmdlineAddr + cmdline.length] = 0;
  writeZeroPage(memory, zeroPage, { setupHeader: k.setupHeader, memSize: memory.size, cmdlineAddr, initrd });
  writeBootGdt(memory, gdt);
  if (pgdir !== undefined) checkIdentity(ctx, pgdir, [zeroPage, gdt, cmdlineAddr]);

  opts.verbose(`Boot parameters at 0x${hex(zeroPage)}, command line at 0x${hex(cmdlineAddr)}: "${opts.cmdline}"`);
  opts.verbose(`Entry point 0x${hex(k.entry)}${pgdir !== undefined ? ' (paging on)' : ''}`);
  return entryState({ eip: k.entry, gdt, esi: zeroPage, pgdir });
}

/**
 * With paging on from the first instruction, the CPU reads the GDT (and the
 * kernel its parameters) through the page tables: they must be where the
 * identity map put them, not hidden under the linear map.
 */
export function checkIdentity(ctx: LoadContext, pgdir: number, addrs: number[]): void {
  for (const a of addrs) {
    if (translate(ctx.memory, pgdir, a) !== a) {
      throw ctx.fail(`the boot data at 0x${hex(a)} is not identity mapped: the kernel's virtual addresses cover it`);
    }
  }
}
