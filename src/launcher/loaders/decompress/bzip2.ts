import Bunzip from 'seek-bzip';
import { CorruptData, TooLarge } from './corrupt';
import { Growable } from './growable';

/**
 * bzip2 (CONFIG_KERNEL_BZIP2), decoded by seek-bzip. It stops after the
 * first stream's CRC, so the size the kernel build appends is ignored.
 */

export function isBzip2(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68 && b[3] >= 0x31 && b[3] <= 0x39;
}

export function decodeBzip2(src: Uint8Array, limit = Infinity): Uint8Array {
  // seek-bzip writes one byte at a time to an output stream we give it,
  // which stops at the limit rather than doubling its buffer for ever.
  const out = new Growable(src.length * 4, limit);
  const sink = {
    writeByte(b: number): void {
      if (out.pos === out.buf.length) out.reserve(1);
      out.buf[out.pos++] = b;
    },
  };
  try {
    Bunzip.decode(src, sink);
  } catch (e) {
    if (e instanceof TooLarge) throw e;
    throw new CorruptData(`bzip2: ${(e as Error).message}`);
  }
  return out.result();
}
