import Bunzip from 'seek-bzip';
import { CorruptData } from './corrupt';

/**
 * bzip2 (CONFIG_KERNEL_BZIP2), decoded by seek-bzip. It stops after the
 * first stream's CRC, so the size the kernel build appends is ignored.
 */

export function isBzip2(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68 && b[3] >= 0x31 && b[3] <= 0x39;
}

export function decodeBzip2(src: Uint8Array): Uint8Array {
  try {
    return Bunzip.decode(src);
  } catch (e) {
    throw new CorruptData(`bzip2: ${(e as Error).message}`);
  }
}
