import { Decompress } from 'fzstd';
import { CorruptData, TooLarge } from './corrupt';

/**
 * Zstandard (CONFIG_KERNEL_ZSTD), decoded by fzstd. fzstd reads every frame
 * it is given and rejects what follows, so we first walk the block headers
 * to find where the first frame ends: the kernel build appends the
 * decompressed size after it.
 */

const MAGIC = 0xfd2fb528;

function le32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

export function isZstd(b: Uint8Array): boolean {
  return b.length >= 4 && le32(b, 0) === MAGIC;
}

/** Length of the zstd frame at the start of b (RFC 8878, section 3.1.1). */
function frameLength(b: Uint8Array): number {
  if (b.length < 6) throw new CorruptData('truncated zstd frame');
  const fhd = b[4];
  const dictIdSize = [0, 1, 2, 4][fhd & 3];
  const checksum = (fhd >>> 2) & 1;
  const singleSegment = (fhd >>> 5) & 1;
  const fcsFlag = fhd >>> 6;
  const fcsSize = fcsFlag === 0 ? singleSegment : [1, 2, 4, 8][fcsFlag];
  let p = 5 + (singleSegment ? 0 : 1) + dictIdSize + fcsSize;
  for (;;) {
    if (p + 3 > b.length) throw new CorruptData('truncated zstd frame');
    const h = b[p] | (b[p + 1] << 8) | (b[p + 2] << 16);
    p += 3;
    const type = (h >>> 1) & 3;
    const size = h >>> 3;
    if (type === 3) throw new CorruptData('reserved zstd block type');
    p += type === 1 ? 1 : size; // an RLE block stores its byte once
    if (h & 1) break;
  }
  p += checksum * 4;
  if (p > b.length) throw new CorruptData('truncated zstd frame');
  return p;
}

export function decodeZstd(src: Uint8Array, limit = Infinity): Uint8Array {
  const frame = src.subarray(0, frameLength(src));
  // Streamed, counting as it goes: the one-shot call allocates whatever
  // size the frame header claims, or grows without bound if it claims none.
  const chunks: Uint8Array[] = [];
  let total = 0;
  const stream = new Decompress((chunk) => {
    total += chunk.length;
    if (total > limit) throw new TooLarge(limit);
    chunks.push(chunk.slice());
  });
  try {
    stream.push(frame, true);
  } catch (e) {
    if (e instanceof TooLarge) throw e;
    throw new CorruptData(`zstd: ${(e as Error).message}`);
  }
  return Buffer.concat(chunks, total);
}
