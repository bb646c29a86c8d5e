import { CorruptData, TooLarge } from './corrupt';
import { Growable } from './growable';
import { decodePropsByte, LzmaDecoder } from './lzma-decoder';

/**
 * The legacy .lzma ("LZMA alone") container of CONFIG_KERNEL_LZMA: a
 * properties byte, a 32-bit dictionary size and a 64-bit uncompressed size
 * (all ones when unknown, in which case an end marker closes the data).
 */

/** The kernel's own test: properties byte 0x5d and a small dictionary size. */
export function isLzma(b: Uint8Array): boolean {
  return b.length >= 13 && b[0] === 0x5d && b[1] === 0x00 && b[2] === 0x00;
}

export function decodeLzma(src: Uint8Array, limit = Infinity): Uint8Array {
  if (src.length < 13) throw new CorruptData('truncated lzma header');
  const props = decodePropsByte(src[0]);
  if (!props) throw new CorruptData('bad lzma properties');
  const v = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const dictSize = Math.max(v.getUint32(1, true), 4096);
  const sizeLo = v.getUint32(5, true);
  const sizeHi = v.getUint32(9, true);
  const known = !(sizeLo === 0xffffffff && sizeHi === 0xffffffff);
  const size = sizeHi * 2 ** 32 + sizeLo;
  if (known && size > 2 ** 32) throw new CorruptData('lzma data claims more than 4 GiB');
  if (known && size > limit) throw new TooLarge(limit);

  const out = new Growable(known ? size : src.length * 4, limit);
  const dec = new LzmaDecoder(dictSize, out);
  dec.setProps(props);
  dec.resetState();
  dec.startRange(src, 13, src.length);
  const marker = dec.decode(known ? size : Infinity, true);
  if (!known && !marker) throw new CorruptData('lzma data without an end marker');
  if (marker && !dec.rangeFinished) throw new CorruptData('corrupt lzma end marker');
  return out.result();
}
