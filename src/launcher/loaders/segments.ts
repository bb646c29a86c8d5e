import { LoadContext } from './context';
import { ElfImage } from './elf';
import { hex } from './image';
import { FileSource, placeFile } from './place';

/**
 * Put every PT_LOAD segment at its physical address: the file part mapped or
 * copied, the rest (bss) zeroed. `src` is the kernel file itself, or the ELF
 * a bzImage carried compressed (then always copied).
 */
export function loadElfSegments(ctx: LoadContext, elf: ElfImage, src: FileSource): void {
  for (const s of elf.segments) {
    if (s.memsz === 0) continue;
    ctx.layout.claim(s.paddr, s.memsz, `ELF segment ${s.index}`, ctx.fail);
    const mapped = placeFile(ctx.target, src, s.offset, s.paddr, s.filesz);
    ctx.memory.u8.fill(0, s.paddr + s.filesz, s.paddr + s.memsz);
    const how =
      s.filesz === 0 ? 'all zero' : mapped === s.filesz ? 'mapped' : mapped > 0 ? `0x${hex(mapped)} mapped, rest copied` : 'copied';
    ctx.opts.verbose(
      `Segment ${s.index}: 0x${hex(s.filesz)} bytes from file offset 0x${hex(s.offset)} at 0x${hex(s.paddr)}` +
        ` (0x${hex(s.memsz)} in memory, ${how})`,
    );
  }
}
