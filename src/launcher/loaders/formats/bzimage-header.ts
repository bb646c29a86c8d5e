import { protocolVersion, setupHeaderOf } from '../boot-params';
import { compressionOf, CorruptData, decompress, TooLarge } from '../decompress';
import { mib } from '../layout';
import { hex, KernelImage } from '../image';
import type { UserError } from '../../user-error';

/**
 * What the loaders read from a bzImage's real-mode header (boot.rst, "The
 * Real-Mode Kernel Header"): where the protected-mode code starts, and from
 * protocol 2.08 where in it the compressed kernel (the payload) is.
 */
export interface BzHeader {
  version: number;
  /** The setup header bytes, copied into the guest's zero page. */
  setup: Uint8Array;
  /** File offset of the protected-mode code: (setup_sects + 1) * 512. */
  pmOffset: number;
  loadflags: number;
  code32Start: number;
  /** File offset and length of the payload; length 0 before 2.08. */
  payloadOffset: number;
  payloadLength: number;
  /** 2.10+: where the kernel wants to run and how much room it needs there. */
  prefAddress: number;
  initSize: number;
}

export const LOADED_HIGH = 0x01;

/** A PC boot sector: 0xAA55 at 0x1fe. */
export function hasBootFlag(image: KernelImage): boolean {
  return image.size >= 0x200 && image.bytes.readUInt16LE(0x1fe) === 0xaa55;
}

export function isBzImage(image: KernelImage): boolean {
  return protocolVersion(image.bytes) !== 0;
}

export function readBzHeader(image: KernelImage): BzHeader {
  const version = protocolVersion(image.bytes);
  const sects = image.u8(0x1f1, 'the setup header');
  const pmOffset = ((sects === 0 ? 4 : sects) + 1) * 512;
  image.need(0, pmOffset + 1, `the setup code (${sects} sectors) and protected-mode code`);
  const h: BzHeader = {
    version,
    setup: setupHeaderOf(image.bytes),
    pmOffset,
    loadflags: version ? image.u8(0x211, 'loadflags') : 0,
    code32Start: version ? image.u32(0x214, 'code32_start') : 0x100000,
    payloadOffset: 0,
    payloadLength: 0,
    prefAddress: 0,
    initSize: 0,
  };
  if (version >= 0x0208) {
    h.payloadOffset = pmOffset + image.u32(0x248, 'payload_offset');
    h.payloadLength = image.u32(0x24c, 'payload_length');
  }
  if (version >= 0x020a) {
    h.prefAddress = Number(image.bytes.readBigUInt64LE(0x258));
    h.initSize = image.u32(0x260, 'init_size');
  }
  return h;
}

export interface Payload {
  compression: string;
  /** The decompressed kernel, or undefined if the compression is one we cannot decode. */
  data?: Uint8Array;
}

const payloads = new WeakMap<KernelImage, Payload | null>();

/**
 * The payload of a 2.08+ bzImage, decompressed once and remembered (the
 * probe looks at it and the parse step uses it). null when there is none or
 * its format is not a compression at all; corrupt data is the user's error.
 */
export function payloadOf(image: KernelImage, h: BzHeader): Payload | null {
  const known = payloads.get(image);
  if (known !== undefined) return known;
  let result: Payload | null = null;
  if (h.payloadLength > 0) {
    image.need(h.payloadOffset, h.payloadLength, 'the compressed kernel (payload_offset/payload_length)');
    const raw = image.bytes.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength);
    const c = compressionOf(raw);
    if (c.supported) {
      try {
        result = { compression: c.name, data: decompress(raw, image.unpackLimit) };
      } catch (e) {
        if (e instanceof TooLarge) throw unpacksTooLarge(image, c.name);
        if (!(e instanceof CorruptData)) throw e;
        throw image.error(`corrupt ${c.name} payload at 0x${hex(h.payloadOffset)}: ${e.message}`);
      }
    } else if (c.name !== 'unknown') {
      result = { compression: c.name };
    }
  }
  payloads.set(image, result);
  return result;
}

/** A payload that would not fit in the guest (or a decompression bomb): said while decoding, not after. */
export function unpacksTooLarge(image: KernelImage, compression: string): UserError {
  return image.error(`the ${compression} kernel inside unpacks to more than the guest's ${mib(image.unpackLimit)} of memory`);
}

/** "2.15" from 0x020f. */
export function protocolString(version: number): string {
  return `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
}
