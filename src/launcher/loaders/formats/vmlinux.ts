import { KernelFormat } from '../context';
import { elfEntry, isElf, parseElf } from '../elf';
import { hex } from '../image';
import { bootLinux } from '../linux-boot';
import { loadElfSegments } from '../segments';

/**
 * An uncompressed kernel, vmlinux: an i386 ELF executable whose PT_LOAD
 * segments go at their physical addresses, mapped straight from the file
 * where they are page aligned. There is no setup header, so we build a
 * minimal one. The kernel's entry point is physical (phys_startup_32), so it
 * starts with paging off; an ELF whose entry is virtual starts paged, on
 * linear page tables at its page offset.
 */
export const vmlinuxFormat: KernelFormat = {
  name: 'ELF vmlinux',
  probe: (image) => isElf(image.bytes),
  parse(image) {
    const fail = (r: string) => image.error(r);
    const elf = parseElf(image.bytes, fail);
    const entry = elfEntry(elf, fail);
    return {
      load(ctx) {
        loadElfSegments(ctx, elf, { fd: image.fd, bytes: image.bytes, fail });
        ctx.opts.verbose(`Page offset 0x${hex(elf.pageOffset)}`);
        return bootLinux(ctx, { entry: entry.eip, pagedAt: entry.paged ? elf.pageOffset : undefined });
      },
    };
  },
};
