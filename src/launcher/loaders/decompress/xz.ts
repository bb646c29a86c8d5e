import { createHash } from 'crypto';
import { bcjX86Decode } from './bcj-x86';
import { CorruptData } from './corrupt';
import { crc32, crc64 } from './crc';
import { Growable } from './growable';
import { decodePropsByte, LzmaDecoder } from './lzma-decoder';

/**
 * The .xz container (what CONFIG_KERNEL_XZ produces, Debian's choice):
 * stream header, blocks of filtered LZMA2 data each followed by its check,
 * then an index and footer we do not need, because we decode only the
 * first stream (the kernel build appends the decompressed size after it).
 */

const MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const FILTER_X86 = 0x04;
const FILTER_LZMA2 = 0x21;

// Check sizes by check id (xz file format, section 3.4).
const CHECK_SIZE = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];

export function isXz(b: Uint8Array): boolean {
  return b.length >= 6 && MAGIC.every((m, i) => b[i] === m);
}

function le32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

/** A variable-length integer: 7 bits a byte, at most 9 bytes. */
function vli(b: Uint8Array, at: { p: number }, end: number): number {
  let v = 0;
  for (let i = 0; i < 9; i++) {
    if (at.p >= end) throw new CorruptData('truncated xz block header');
    const byte = b[at.p++];
    v += (byte & 0x7f) * 2 ** (7 * i);
    if (!(byte & 0x80)) {
      if (byte === 0 && i > 0) throw new CorruptData('bad xz integer');
      return v;
    }
  }
  throw new CorruptData('bad xz integer');
}

/** The LZMA2 dictionary size from its one property byte. */
function lzma2DictSize(prop: number): number {
  const bits = prop & 0x3f;
  if (bits > 40) throw new CorruptData('bad LZMA2 dictionary size');
  if (bits === 40) return 0xffffffff;
  return (2 | (bits & 1)) * 2 ** (Math.floor(bits / 2) + 11);
}

/** Decodes LZMA2 chunks from src[start...]; returns where they ended. */
function decodeLzma2(src: Uint8Array, start: number, dictSize: number, out: Growable): number {
  const dec = new LzmaDecoder(dictSize, out);
  let p = start;
  let needDictReset = true;
  let needProps = true;
  for (;;) {
    if (p >= src.length) throw new CorruptData('truncated LZMA2 data');
    const control = src[p++];
    if (control === 0x00) return p;

    if (control >= 0xe0 || control === 0x01) {
      needProps = true;
      dec.resetDict();
      needDictReset = false;
    } else if (needDictReset) {
      throw new CorruptData('LZMA2 data does not start with a dictionary reset');
    }

    if (control < 0x80) {
      if (control > 0x02) throw new CorruptData(`bad LZMA2 control byte 0x${control.toString(16)}`);
      // An uncompressed chunk: copied into the dictionary as is.
      if (p + 2 > src.length) throw new CorruptData('truncated LZMA2 data');
      const size = ((src[p] << 8) | src[p + 1]) + 1;
      p += 2;
      if (p + size > src.length) throw new CorruptData('truncated LZMA2 data');
      out.reserve(size);
      out.buf.set(src.subarray(p, p + size), out.pos);
      out.pos += size;
      p += size;
      continue;
    }

    if (p + 4 > src.length) throw new CorruptData('truncated LZMA2 data');
    const unpacked = (control & 0x1f) * 65536 + ((src[p] << 8) | src[p + 1]) + 1;
    const packed = ((src[p + 2] << 8) | src[p + 3]) + 1;
    p += 4;
    if (control >= 0xc0) {
      if (p >= src.length) throw new CorruptData('truncated LZMA2 data');
      const props = decodePropsByte(src[p++]);
      if (!props || props.lc + props.lp > 4) throw new CorruptData('bad LZMA2 properties');
      dec.setProps(props);
      dec.resetState();
      needProps = false;
    } else if (needProps) {
      throw new CorruptData('LZMA2 chunk without properties');
    } else if (control >= 0xa0) {
      dec.resetState();
    }
    const chunkEnd = p + packed;
    if (chunkEnd > src.length) throw new CorruptData('truncated LZMA2 data');
    dec.startRange(src, p, chunkEnd);
    out.reserve(unpacked);
    dec.decode(out.pos + unpacked, false);
    if (dec.inputPos !== chunkEnd || !dec.rangeFinished) throw new CorruptData('LZMA2 chunk size mismatch');
    p = chunkEnd;
  }
}

function verifyCheck(kind: number, data: Uint8Array, stored: Uint8Array): void {
  let ok = true;
  if (kind === 0x01) ok = crc32(data) === le32(stored, 0);
  else if (kind === 0x04) ok = Buffer.from(crc64(data)).equals(stored);
  else if (kind === 0x0a) ok = createHash('sha256').update(data).digest().equals(stored);
  // Other check ids are reserved; a decoder may skip them, as xz does with a warning.
  if (!ok) throw new CorruptData('xz check mismatch');
}

export function decodeXz(src: Uint8Array, limit = Infinity): Uint8Array {
  if (!isXz(src) || src.length < 12) throw new CorruptData('not an xz stream');
  if (src[6] !== 0 || src[7] > 0x0f || crc32(src.subarray(6, 8)) !== le32(src, 8)) {
    throw new CorruptData('bad xz stream header');
  }
  const checkKind = src[7];
  const out = new Growable(src.length * 4, limit);
  let p = 12;
  for (;;) {
    if (p >= src.length) throw new CorruptData('truncated xz stream');
    if (src[p] === 0) return out.result(); // the index: no more blocks

    const headerSize = (src[p] + 1) * 4;
    const hend = p + headerSize;
    if (hend > src.length) throw new CorruptData('truncated xz block header');
    if (crc32(src.subarray(p, hend - 4)) !== le32(src, hend - 4)) throw new CorruptData('bad xz block header CRC');
    const flags = src[p + 1];
    if (flags & 0x3c) throw new CorruptData('unsupported xz block flags');
    const at = { p: p + 2 };
    const compressedSize = flags & 0x40 ? vli(src, at, hend - 4) : -1;
    const uncompressedSize = flags & 0x80 ? vli(src, at, hend - 4) : -1;
    const filters: { id: number; props: Uint8Array }[] = [];
    for (let i = 0; i <= (flags & 3); i++) {
      const id = vli(src, at, hend - 4);
      const n = vli(src, at, hend - 4);
      if (at.p + n > hend - 4) throw new CorruptData('truncated xz filter properties');
      filters.push({ id, props: src.subarray(at.p, at.p + n) });
      at.p += n;
    }
    for (let i = at.p; i < hend - 4; i++) if (src[i] !== 0) throw new CorruptData('bad xz block header padding');

    const last = filters[filters.length - 1];
    if (last.id !== FILTER_LZMA2 || last.props.length !== 1) {
      throw new CorruptData(`unsupported xz filter chain (last filter 0x${last.id.toString(16)})`);
    }
    for (const f of filters.slice(0, -1)) {
      if (f.id !== FILTER_X86 || (f.props.length !== 0 && f.props.length !== 4)) {
        throw new CorruptData(`unsupported xz filter 0x${f.id.toString(16)}`);
      }
    }

    const blockStart = out.pos;
    const dataEnd = decodeLzma2(src, hend, lzma2DictSize(last.props[0]), out);
    if (compressedSize >= 0 && dataEnd - hend !== compressedSize) throw new CorruptData('xz block size mismatch');
    if (uncompressedSize >= 0 && out.pos - blockStart !== uncompressedSize) {
      throw new CorruptData('xz block size mismatch');
    }
    const block = out.buf.subarray(blockStart, out.pos);
    // Filters listed before LZMA2 were applied before it when compressing,
    // so they are undone after it, last listed first.
    for (let i = filters.length - 2; i >= 0; i--) {
      bcjX86Decode(block, filters[i].props.length === 4 ? le32(filters[i].props, 0) : 0);
    }

    p = dataEnd;
    while (p & 3) {
      if (src[p] !== 0) throw new CorruptData('bad xz block padding');
      p++;
    }
    const checkSize = CHECK_SIZE[checkKind];
    if (p + checkSize > src.length) throw new CorruptData('truncated xz stream');
    verifyCheck(checkKind, block, src.subarray(p, p + checkSize));
    p += checkSize;
  }
}
