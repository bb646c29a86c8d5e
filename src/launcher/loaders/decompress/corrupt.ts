/**
 * A compressed stream that cannot be decoded. The loaders turn it into a
 * UserError naming the kernel file; the decoders only know what went wrong.
 */
export class CorruptData extends Error {
  constructor(m: string) {
    super(m);
    this.name = 'CorruptData';
  }
}
