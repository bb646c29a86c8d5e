import { CorruptData } from './corrupt';
import { Growable } from './growable';

/**
 * The "legacy" LZ4 framing the kernel uses (`lz4 -l`, CONFIG_KERNEL_LZ4):
 * the magic 0x184C2102, then independent blocks of up to 8 MiB, each a
 * 32-bit compressed size and an LZ4 block. There is no end mark: the data
 * ends when the input does, here the 4-byte size the kernel build appends.
 */

const MAGIC = 0x184c2102;
const BLOCK_MAX = 8 << 20;

function le32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

export function isLz4Legacy(b: Uint8Array): boolean {
  return b.length >= 4 && le32(b, 0) === MAGIC;
}

/** One LZ4 block: sequences of literals then a (offset, length) match. */
function decodeBlock(src: Uint8Array, start: number, end: number, out: Growable): void {
  const blockStart = out.pos;
  let p = start;
  while (p < end) {
    const token = src[p++];
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (p >= end) throw new CorruptData('truncated lz4 block');
        b = src[p++];
        lit += b;
      } while (b === 255);
    }
    if (p + lit > end) throw new CorruptData('truncated lz4 block');
    out.reserve(lit);
    out.buf.set(src.subarray(p, p + lit), out.pos);
    out.pos += lit;
    p += lit;
    if (p === end) break; // the last sequence has literals only

    if (p + 2 > end) throw new CorruptData('truncated lz4 block');
    const offset = src[p] | (src[p + 1] << 8);
    p += 2;
    if (offset === 0 || offset > out.pos - blockStart) throw new CorruptData('lz4 match offset out of range');
    let len = token & 15;
    if (len === 15) {
      let b: number;
      do {
        if (p >= end) throw new CorruptData('truncated lz4 block');
        b = src[p++];
        len += b;
      } while (b === 255);
    }
    len += 4;
    out.reserve(len);
    const buf = out.buf;
    let from = out.pos - offset;
    let to = out.pos;
    const stop = to + len;
    while (to < stop) buf[to++] = buf[from++];
    out.pos = stop;
  }
  if (out.pos - blockStart > BLOCK_MAX) throw new CorruptData('lz4 block larger than 8 MiB');
}

export function decodeLz4Legacy(src: Uint8Array, limit = Infinity): Uint8Array {
  if (!isLz4Legacy(src)) throw new CorruptData('not legacy lz4 data');
  const out = new Growable(src.length * 3, limit);
  let p = 4;
  // A block needs a size and at least one byte; four or fewer bytes left
  // are the trailer (the kernel's appended size), not another block.
  while (src.length - p > 4) {
    const size = le32(src, p);
    p += 4;
    if (size === MAGIC) continue; // concatenated archives
    if (size === 0 || p + size > src.length) throw new CorruptData('truncated lz4 data');
    decodeBlock(src, p, p + size, out);
    p += size;
  }
  return out.result();
}
