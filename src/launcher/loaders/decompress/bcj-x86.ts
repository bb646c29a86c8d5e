/**
 * The x86 branch/call/jump filter xz applies before LZMA2 (`xz --x86`, as
 * the kernel's xzkern does): the encoder turned the relative targets of
 * E8/E9 instructions into absolute ones so repeated calls compress better;
 * decoding turns them back. Works in place on the whole buffer; `start` is
 * the filter's start offset property (usually 0).
 */

// For the last three bytes seen as E8/E9 candidates, whether a conversion is
// allowed and which byte of the operand to test.
const ALLOWED = [true, true, true, false, true, false, false, false];
const BIT_NUM = [0, 1, 2, 2, 3, 3, 3, 3];

/** Only operands whose top byte is 0x00 or 0xFF were converted. */
function msbyteOk(b: number): boolean {
  return b === 0x00 || b === 0xff;
}

export function bcjX86Decode(buf: Uint8Array, start = 0): void {
  if (buf.length <= 4) return;
  const limit = buf.length - 4;
  let prevPos = -1;
  let prevMask = 0;
  for (let i = 0; i < limit; i++) {
    if ((buf[i] & 0xfe) !== 0xe8) continue;
    const gap = i - prevPos;
    if (gap > 3) {
      prevMask = 0;
    } else {
      prevMask = (prevMask << (gap - 1)) & 7;
      if (prevMask !== 0) {
        const b = buf[i + 4 - BIT_NUM[prevMask]];
        if (!ALLOWED[prevMask] || msbyteOk(b)) {
          prevPos = i;
          prevMask = (prevMask << 1) | 1;
          continue;
        }
      }
    }
    prevPos = i;
    if (msbyteOk(buf[i + 4])) {
      let src = (buf[i + 1] | (buf[i + 2] << 8) | (buf[i + 3] << 16) | (buf[i + 4] << 24)) >>> 0;
      let dest: number;
      for (;;) {
        dest = (src - (start + i + 5)) >>> 0;
        if (prevMask === 0) break;
        const j = BIT_NUM[prevMask] * 8;
        if (!msbyteOk((dest >>> (24 - j)) & 0xff)) break;
        src = (dest ^ (2 ** (32 - j) - 1)) >>> 0;
      }
      dest &= 0x01ffffff;
      if (dest & 0x01000000) dest |= 0xfe000000;
      buf[i + 1] = dest & 0xff;
      buf[i + 2] = (dest >>> 8) & 0xff;
      buf[i + 3] = (dest >>> 16) & 0xff;
      buf[i + 4] = (dest >>> 24) & 0xff;
      i += 4;
    } else {
      prevMask = (prevMask << 1) | 1;
    }
  }
}
