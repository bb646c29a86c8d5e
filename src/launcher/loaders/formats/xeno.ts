import { cmdlineMax, writeZeroPage, ZERO_PAGE_SIZE } from '../boot-params';
import { entryState, writeBootGdt } from '../boot-cpu';
import { KernelFormat, LoadContext } from '../context';
import { hex } from '../image';
import { placeInitrd } from '../initrd';
import { PAGE, pageUp } from '../layout';
import { checkIdentity } from '../linux-boot';
import { planPageTables, PTE_ACCESSED, PTE_DIRTY, PTE_PRESENT, PTE_RW, PTE_USER, writePageTables } from '../page-tables';
import { placeFile } from '../place';

/**
 * A Xeno image, what Xen's first domain builder (XenoDomainBuilder, in the
 * seeds) loaded: the 8 bytes "XenoGues", a 32-bit virtual load address, then
 * the kernel, which runs at that address from the first instruction.
 *
 * As the builder did: the kernel goes at the bottom of the domain's memory
 * (physical 0), the initrd straight after it, the page directory on the top
 * page of memory with the page tables below it mapping all of memory
 * linearly from the load address, the page tables' own pages read-only, and
 * the start-of-day information below the page tables. Where Xeno had its
 * start_info page we put a Linux zero page (command line, initrd, memory
 * map), and %esi points at it.
 */

const SIGNATURE = 'XenoGues';
const HEADER = 12;

// The builder's protections: no user access in the page tables (L1), user
// allowed in the directory (L2) so the guest may later share 4 MiB regions.
const L1_PROT = PTE_PRESENT | PTE_RW | PTE_ACCESSED;
const L2_PROT = PTE_PRESENT | PTE_RW | PTE_ACCESSED | PTE_DIRTY | PTE_USER;

export const xenoFormat: KernelFormat = {
  name: 'Xeno image',
  probe: (image) => image.size >= SIGNATURE.length && image.bytes.toString('latin1', 0, SIGNATURE.length) === SIGNATURE,
  parse(image) {
    const fail = (r: string) => image.error(r);
    const loadAddr = image.u32(SIGNATURE.length, 'the Xeno load address');
    if (loadAddr % PAGE !== 0) throw fail(`the Xeno load address 0x${hex(loadAddr)} is not page aligned`);
    const ksize = image.size - HEADER;
    if (ksize === 0) throw fail('the Xeno image has no kernel after its header');
    return {
      load(ctx: LoadContext) {
        const { memory, layout, opts } = ctx;
        const cmdline = Buffer.from(opts.cmdline, 'utf8');
        if (cmdline.length > cmdlineMax(undefined)) {
          throw fail(`the command line is ${cmdline.length} bytes, at most ${cmdlineMax(undefined)} fit`);
        }
        layout.claim(0, ksize, 'the Xeno kernel', fail);
        placeFile(ctx.target, { fd: image.fd, bytes: image.bytes, fail }, HEADER, 0, ksize);
        opts.verbose(`Xeno kernel: 0x${hex(ksize)} bytes at 0x0, virtual load address 0x${hex(loadAddr)}`);

        const initrd = placeInitrd(ctx, { at: pageUp(ksize) });

        const mapping = { virtualBase: loadAddr, pdeFlags: L2_PROT, pteFlags: L1_PROT, readOnlyTables: true };
        const plan = planPageTables(memory.size, mapping);
        const tables = layout.highest(plan.bytes, memory.size, 'the initial page tables', fail);
        const pgdir = writePageTables(memory, mapping, plan, tables, opts.verbose);

        const area = layout.highest(ZERO_PAGE_SIZE + PAGE + pageUp(cmdline.length + 1), tables, 'the start info', fail);
        const gdt = area + ZERO_PAGE_SIZE;
        const cmdlineAddr = gdt + PAGE;
        memory.u8.set(cmdline, cmdlineAddr);
        memory.u8[cmdlineAddr + cmdline.length] = 0;
        writeZeroPage(memory, area, { memSize: memory.size, cmdlineAddr, initrd });
        writeBootGdt(memory, gdt);
        checkIdentity(ctx, pgdir, [area, gdt, cmdlineAddr]);

        opts.verbose(`Start info at 0x${hex(area)}, command line "${opts.cmdline}"`);
        opts.verbose(`Entry point 0x${hex(loadAddr)} (paging on)`);
        return entryState({ eip: loadAddr, gdt, esi: area, pgdir });
      },
    };
  },
};
