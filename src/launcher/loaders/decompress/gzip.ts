import { inflateRawSync } from 'zlib';
import { CorruptData, TooLarge } from './corrupt';
import { crc32 } from './crc';

/**
 * gzip (CONFIG_KERNEL_GZIP, and the payload of old bzImages). Node's
 * gunzip refuses trailing bytes, and a gzip stream found inside a bzImage is
 * followed by whatever comes after it, so we read the header ourselves,
 * inflate the deflate data (zlib reports how much it consumed) and check
 * the CRC and length in the trailer.
 */

const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;

export function isGzip(b: Uint8Array): boolean {
  return b.length >= 10 && b[0] === 0x1f && b[1] === 0x8b && b[2] === 0x08 && (b[3] & 0xe0) === 0;
}

export interface GzipResult {
  data: Uint8Array;
  /** Bytes of src the member used, header to trailer. */
  length: number;
}

export function decodeGzipMember(src: Uint8Array, limit = Infinity): GzipResult {
  if (!isGzip(src)) throw new CorruptData('not gzip data');
  const flags = src[3];
  let p = 10;
  if (flags & FEXTRA) {
    if (p + 2 > src.length) throw new CorruptData('truncated gzip header');
    p += 2 + (src[p] | (src[p + 1] << 8));
  }
  for (const f of [FNAME, FCOMMENT]) {
    if (flags & f) {
      while (p < src.length && src[p] !== 0) p++;
      p++;
    }
  }
  if (flags & FHCRC) p += 2;
  if (p >= src.length) throw new CorruptData('truncated gzip header');

  let data: Buffer;
  let used: number;
  try {
    const options = limit < Infinity ? { info: true, maxOutputLength: Math.max(1, limit) } : { info: true };
    const r = inflateRawSync(src.subarray(p), options) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    data = r.buffer;
    used = r.engine.bytesWritten;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new TooLarge(limit);
    throw new CorruptData(`gzip: ${(e as Error).message}`);
  }
  const t = p + used;
  if (t + 8 > src.length) throw new CorruptData('truncated gzip trailer');
  const v = new DataView(src.buffer, src.byteOffset + t, 8);
  if (v.getUint32(0, true) !== crc32(data)) throw new CorruptData('gzip CRC mismatch');
  if (v.getUint32(4, true) !== data.length % 2 ** 32) throw new CorruptData('gzip length mismatch');
  return { data, length: t + 8 };
}
