/**
 * An output buffer for decoders that do not know the final size up front.
 * Doubling keeps the copies to about twice the output, and a kernel
 * decompresses once per boot.
 */
export class Growable {
  buf: Uint8Array;
  pos = 0;

  constructor(initial = 1 << 20) {
    this.buf = new Uint8Array(Math.max(initial, 16));
  }

  /** Make room for `n` more bytes after pos. */
  reserve(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.buf.subarray(0, this.pos));
    this.buf = bigger;
  }

  result(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}
