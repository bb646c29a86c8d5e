import { KernelFormat, LoadContext } from '../context';
import { CorruptData, TooLarge } from '../decompress';
import { decodeGzipMember } from '../decompress/gzip';
import { hex, KernelImage } from '../image';
import { bootLinux } from '../linux-boot';
import { placeFile } from '../place';
import { hasBootFlag, isBzImage, Payload, payloadOf, protocolString, readBzHeader, unpacksTooLarge } from './bzimage-header';

/**
 * An older bzImage (protocol before 2.07, or a payload that is not an ELF
 * file): the original launcher's way. The kernel inside is a raw image that
 * runs at 1 MiB; we find its gzip stream by scanning for a gzip header,
 * unpack it there, and, lacking an ELF header to say so, guess the page
 * offset it was built for from the code itself.
 */
export const legacyBzImageFormat: KernelFormat = {
  name: 'legacy bzImage',
  probe: (image) => isBzImage(image) || hasBootFlag(image),
  parse(image, opts) {
    const fail = (r: string) => image.error(r);
    const h = readBzHeader(image);
    if (!opts.direct) {
      const has = h.version ? `boot protocol ${protocolString(h.version)}` : 'no boot protocol header';
      throw fail(`--no-direct needs boot protocol 2.07 or later, this kernel has ${has}`);
    }
    const unpacked = rawKernel(image, h.pmOffset, payloadOf(image, h));
    const pageOffset = intuitPageOffset(unpacked.data);
    if (pageOffset === null) throw fail('could not determine the page offset of the unpacked kernel');
    return {
      load(ctx: LoadContext) {
        ctx.layout.claim(LEGACY_LOAD, unpacked.data.length, 'the unpacked kernel', fail);
        placeFile(ctx.target, { bytes: unpacked.data, fail }, 0, LEGACY_LOAD, unpacked.data.length);
        ctx.opts.verbose(`Unpacked ${unpacked.from}: size 0x${hex(unpacked.data.length)} at 0x${hex(LEGACY_LOAD)}`);
        ctx.opts.verbose(`Page offset 0x${hex(pageOffset)} (guessed from the code)`);
        return bootLinux(ctx, { setupHeader: h.version ? h.setup : undefined, entry: LEGACY_LOAD });
      },
    };
  },
};

/** A bzImage's kernel always ran at physical 1 MiB (CONFIG_PHYSICAL_START's old default). */
const LEGACY_LOAD = 0x100000;

function rawKernel(image: KernelImage, pmOffset: number, payload: Payload | null): { data: Uint8Array; from: string } {
  if (payload) {
    if (!payload.data) {
      throw image.error(`the kernel inside is ${payload.compression} compressed, which lguest cannot decompress`);
    }
    return { data: payload.data, from: `${payload.compression} payload` };
  }
  const found = findGzipKernel(image, pmOffset);
  return { data: found.data, from: `gzip stream at 0x${hex(found.offset)}` };
}

/**
 * The first gzip member in the protected-mode code that really decodes. A
 * candidate header is 1F 8B, method 8 (deflate), no reserved flags, and, as
 * the original insisted, "compressed under UNIX" (OS byte 3).
 */
function findGzipKernel(image: KernelImage, from: number): { data: Uint8Array; offset: number } {
  const b = image.bytes;
  let firstError: string | undefined;
  for (let i = from; i + 10 <= b.length; i++) {
    if (b[i] !== 0x1f || b[i + 1] !== 0x8b || b[i + 2] !== 0x08 || b[i + 3] & 0xe0 || b[i + 9] !== 3) continue;
    try {
      return { data: decodeGzipMember(b.subarray(i), image.unpackLimit).data, offset: i };
    } catch (e) {
      if (e instanceof TooLarge) throw unpacksTooLarge(image, 'gzip');
      if (!(e instanceof CorruptData)) throw e;
      firstError ??= `corrupt gzip stream at 0x${hex(i)}: ${e.message}`;
    }
  }
  throw image.error(firstError ?? 'could not find the kernel in the bzImage (no gzip stream)');
}

/**
 * The original's intuit_page_offset(): kernels are full of "movl <addr>,%eax"
 * (A1 and a 4-byte address), and the top byte of those addresses is almost
 * always the page offset's. The first top byte seen after four such
 * instructions wins. Statistics instead of a disassembler; it works.
 */
export function intuitPageOffset(img: Uint8Array): number | null {
  const seen = new Uint32Array(256);
  for (let i = 0; i + 4 < img.length; i++) {
    if (img[i] === 0xa1 && ++seen[img[i + 4]] > 3) return (img[i + 4] << 24) >>> 0;
  }
  return null;
}
