import { KernelFormat, LoadContext } from '../context';
import { elfEntry, isElf, parseElf } from '../elf';
import { hex, KernelImage } from '../image';
import { bootLinux } from '../linux-boot';
import { mib } from '../layout';
import { placeFile } from '../place';
import { loadElfSegments } from '../segments';
import { BzHeader, isBzImage, LOADED_HIGH, payloadOf, protocolString, readBzHeader } from './bzimage-header';

/**
 * A bzImage with boot protocol 2.07 or later, the form distributions ship.
 *
 * Directly (the default): since 2.08 the compressed kernel inside is an ELF
 * vmlinux, so, like Xen's bzImage loader in the seeds, we decompress it here
 * and load the ELF's segments, with the setup header copied from the image
 * into the zero page. The guest starts at the kernel proper and never runs
 * the decompressor, which on an emulated CPU would take far longer than the
 * launcher does.
 *
 * Not directly (--no-direct): the protected-mode code goes at 1 MiB and the
 * guest is started at code32_start, where the kernel's own decompressor
 * runs, as a boot loader using the 32-bit boot protocol would do.
 */
export const bzImageFormat: KernelFormat = {
  name: 'bzImage',
  probe(image, opts) {
    if (!isBzImage(image)) return false;
    const h = readBzHeader(image);
    if (h.version < 0x0207) return false;
    if (!opts.direct) return true;
    // Directly only with an ELF inside (or a compression we name but cannot
    // decode, which parse reports); otherwise it is a legacy image.
    const p = payloadOf(image, h);
    return p !== null && (p.data === undefined || isElf(p.data));
  },
  parse(image, opts) {
    const h = readBzHeader(image);
    return opts.direct ? parseDirect(image, h) : parseProtectedMode(image, h);
  },
};

function parseDirect(image: KernelImage, h: BzHeader) {
  const fail = (r: string) => image.error(r);
  const payload = payloadOf(image, h);
  if (!payload) throw fail('there is no compressed kernel in the bzImage');
  if (!payload.data) {
    throw fail(`the kernel inside is ${payload.compression} compressed, which lguest cannot decompress (try --no-direct)`);
  }
  const { compression, data } = payload;
  const elf = parseElf(data, (r) => fail(`${compression} payload: ${r}`));
  const entry = elfEntry(elf, (r) => fail(`${compression} payload: ${r}`));
  return {
    load(ctx: LoadContext) {
      ctx.opts.verbose(
        `bzImage protocol ${protocolString(h.version)}: ${compression} payload, 0x${hex(h.payloadLength)} bytes at 0x${hex(h.payloadOffset)}, unpacked to 0x${hex(data.length)}`,
      );
      loadElfSegments(ctx, elf, { bytes: data, fail });
      ctx.opts.verbose(`Page offset 0x${hex(elf.pageOffset)}`);
      return bootLinux(ctx, {
        setupHeader: h.setup,
        entry: entry.eip,
        pagedAt: entry.paged ? elf.pageOffset : undefined,
      });
    },
  };
}

/** Where a bzImage's protected-mode code must be loaded. */
const BZIMAGE_LOAD = 0x100000;

function parseProtectedMode(image: KernelImage, h: BzHeader) {
  const fail = (r: string) => image.error(r);
  if (!(h.loadflags & LOADED_HIGH)) throw fail('a zImage (not loaded high) cannot be booted with --no-direct');
  const length = image.size - h.pmOffset;
  return {
    load(ctx: LoadContext) {
      ctx.layout.claim(BZIMAGE_LOAD, length, 'the protected-mode kernel', fail);
      const mapped = placeFile(ctx.target, { fd: image.fd, bytes: image.bytes, fail }, h.pmOffset, BZIMAGE_LOAD, length);
      ctx.opts.verbose(
        `bzImage protocol ${protocolString(h.version)}: protected-mode code 0x${hex(length)} bytes at 0x${hex(BZIMAGE_LOAD)} (${mapped ? 'mapped' : 'copied'}), decompressing itself`,
      );
      // The decompressor moves the kernel to pref_address and needs
      // init_size bytes there; keep the initrd and page tables out of it.
      if (h.initSize > 0) {
        const start = Math.max(h.prefAddress, BZIMAGE_LOAD + length);
        const end = h.prefAddress + h.initSize;
        if (end > ctx.memory.size) {
          throw fail(`the kernel needs ${mib(Math.ceil(end / (1 << 20)) * (1 << 20))} of memory to decompress itself, the guest has ${mib(ctx.memory.size)}`);
        }
        if (end > start) ctx.layout.claim(start, end - start, 'the kernel decompression area', fail);
      }
      return bootLinux(ctx, { setupHeader: h.setup, entry: h.code32Start });
    },
  };
}
