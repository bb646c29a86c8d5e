import { CorruptData } from './corrupt';
import { Growable } from './growable';

/**
 * The LZMA decoder shared by the .lzma and .xz (LZMA2) containers: a range
 * decoder driving adaptive bit models, as in Igor Pavlov's specification.
 *
 * The whole output stays in memory (a kernel is tens of megabytes), so the
 * "dictionary" is simply the output since the last dictionary reset, and a
 * match is a copy from earlier in the same buffer.
 */

export interface LzmaProps {
  lc: number;
  lp: number;
  pb: number;
}

/** The packed lc/lp/pb byte of both containers; null if out of range. */
export function decodePropsByte(b: number): LzmaProps | null {
  if (b >= 9 * 5 * 5) return null;
  return { lc: b % 9, lp: Math.floor(b / 9) % 5, pb: Math.floor(b / 45) };
}

const PROB_INIT = 1024; // probability 0.5 in 11-bit fixed point
const STATES = 12;
const POS_STATES_MAX = 16;
const END_POS_MODEL = 14;
const FULL_DISTANCES = 128;
const MATCH_MIN = 2;

/** A length coder: 2..9 (low), 10..17 (mid), 18..273 (high). */
class LenModel {
  readonly choice = new Uint16Array(2);
  readonly low = new Uint16Array(POS_STATES_MAX << 3);
  readonly mid = new Uint16Array(POS_STATES_MAX << 3);
  readonly high = new Uint16Array(256);

  reset(): void {
    this.choice.fill(PROB_INIT);
    this.low.fill(PROB_INIT);
    this.mid.fill(PROB_INIT);
    this.high.fill(PROB_INIT);
  }
}

export class LzmaDecoder {
  /** Decoded bytes; distances reach back only to dictStart. */
  readonly out: Growable;
  dictStart = 0;

  private lc = 0;
  private lp = 0;
  private pb = 0;
  private literal = new Uint16Array(0x300);
  private readonly isMatch = new Uint16Array(STATES << 4);
  private readonly isRep = new Uint16Array(STATES);
  private readonly isRepG0 = new Uint16Array(STATES);
  private readonly isRepG1 = new Uint16Array(STATES);
  private readonly isRepG2 = new Uint16Array(STATES);
  private readonly isRep0Long = new Uint16Array(STATES << 4);
  private readonly posSlot = new Uint16Array(4 << 6);
  private readonly posSpecial = new Uint16Array(1 + FULL_DISTANCES - END_POS_MODEL);
  private readonly align = new Uint16Array(16);
  private readonly lenModel = new LenModel();
  private readonly repLenModel = new LenModel();

  private state = 0;
  private rep0 = 0;
  private rep1 = 0;
  private rep2 = 0;
  private rep3 = 0;

  private src: Uint8Array = new Uint8Array(0);
  private ip = 0;
  private end = 0;
  private range = 0;
  private code = 0;

  constructor(readonly dictSize: number, out: Growable) {
    this.out = out;
  }

  setProps(p: LzmaProps): void {
    this.lc = p.lc;
    this.lp = p.lp;
    this.pb = p.pb;
    const size = 0x300 << (p.lc + p.lp);
    if (this.literal.length !== size) this.literal = new Uint16Array(size);
  }

  /** Forget all statistics and the match history (not the dictionary). */
  resetState(): void {
    this.literal.fill(PROB_INIT);
    this.isMatch.fill(PROB_INIT);
    this.isRep.fill(PROB_INIT);
    this.isRepG0.fill(PROB_INIT);
    this.isRepG1.fill(PROB_INIT);
    this.isRepG2.fill(PROB_INIT);
    this.isRep0Long.fill(PROB_INIT);
    this.posSlot.fill(PROB_INIT);
    this.posSpecial.fill(PROB_INIT);
    this.align.fill(PROB_INIT);
    this.lenModel.reset();
    this.repLenModel.reset();
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
  }

  resetDict(): void {
    this.dictStart = this.out.pos;
  }

  /** Start the range decoder on src[start, end): a zero byte, then the code. */
  startRange(src: Uint8Array, start: number, end: number): void {
    if (end - start < 5) throw new CorruptData('truncated LZMA data');
    if (src[start] !== 0) throw new CorruptData('bad LZMA range coder start');
    this.src = src;
    this.end = end;
    this.code = ((src[start + 1] << 24) | (src[start + 2] << 16) | (src[start + 3] << 8) | src[start + 4]) >>> 0;
    this.range = 0xffffffff;
    this.ip = start + 5;
    if (this.code === this.range) throw new CorruptData('bad LZMA range coder start');
  }

  /** Where the range decoder stopped reading, and whether it ended cleanly. */
  get inputPos(): number {
    return this.ip;
  }
  get rangeFinished(): boolean {
    return this.code === 0;
  }

  private normalize(): void {
    if (this.range < 0x1000000) {
      if (this.ip >= this.end) throw new CorruptData('truncated LZMA data');
      this.range = (this.range << 8) >>> 0;
      this.code = ((this.code << 8) | this.src[this.ip++]) >>> 0;
    }
  }

  private bit(probs: Uint16Array, i: number): number {
    const p = probs[i];
    const bound = (this.range >>> 11) * p;
    let b: number;
    if (this.code < bound) {
      this.range = bound;
      probs[i] = p + ((2048 - p) >>> 5);
      b = 0;
    } else {
      this.range -= bound;
      this.code -= bound;
      probs[i] = p - (p >>> 5);
      b = 1;
    }
    this.normalize();
    return b;
  }

  /**
   * A bit tree, most significant bit first. This and matchedLiteral carry
   * the range coder in locals for the whole symbol: they decode most of
   * the bits, and V8 keeps locals in registers where fields go to memory.
   */
  private tree(probs: Uint16Array, base: number, bits: number): number {
    let range = this.range;
    let code = this.code;
    let ip = this.ip;
    let m = 1;
    for (let i = 0; i < bits; i++) {
      const p = probs[base + m];
      const bound = (range >>> 11) * p;
      if (code < bound) {
        range = bound;
        probs[base + m] = p + ((2048 - p) >>> 5);
        m <<= 1;
      } else {
        range -= bound;
        code -= bound;
        probs[base + m] = p - (p >>> 5);
        m = (m << 1) | 1;
      }
      if (range < 0x1000000) {
        if (ip >= this.end) throw new CorruptData('truncated LZMA data');
        range = (range << 8) >>> 0;
        code = ((code << 8) | this.src[ip++]) >>> 0;
      }
    }
    this.range = range;
    this.code = code;
    this.ip = ip;
    return m - (1 << bits);
  }

  /**
   * A literal after a match: while its bits agree with the byte at rep0 they
   * are coded with that byte's bits as context; after the first difference,
   * as a plain literal. Returns the symbol so far (0x100 and up when done).
   */
  private matchedLiteral(base: number, matchByte: number): number {
    let range = this.range;
    let code = this.code;
    let ip = this.ip;
    const probs = this.literal;
    let sym = 1;
    do {
      const matchBit = (matchByte >>> 7) & 1;
      matchByte <<= 1;
      const i = base + ((1 + matchBit) << 8) + sym;
      const p = probs[i];
      const bound = (range >>> 11) * p;
      let b: number;
      if (code < bound) {
        range = bound;
        probs[i] = p + ((2048 - p) >>> 5);
        b = 0;
      } else {
        range -= bound;
        code -= bound;
        probs[i] = p - (p >>> 5);
        b = 1;
      }
      if (range < 0x1000000) {
        if (ip >= this.end) throw new CorruptData('truncated LZMA data');
        range = (range << 8) >>> 0;
        code = ((code << 8) | this.src[ip++]) >>> 0;
      }
      sym = (sym << 1) | b;
      if (matchBit !== b) break;
    } while (sym < 0x100);
    this.range = range;
    this.code = code;
    this.ip = ip;
    return sym;
  }

  private reverseTree(probs: Uint16Array, base: number, bits: number): number {
    let m = 1;
    let sym = 0;
    for (let i = 0; i < bits; i++) {
      const b = this.bit(probs, base + m);
      m = (m << 1) | b;
      sym |= b << i;
    }
    return sym;
  }

  private direct(bits: number): number {
    let res = 0;
    for (let i = 0; i < bits; i++) {
      this.range >>>= 1;
      let b = 0;
      if (this.code >= this.range) {
        this.code -= this.range;
        b = 1;
      }
      res = ((res << 1) | b) >>> 0;
      this.normalize();
    }
    return res;
  }

  private length(m: LenModel, posState: number): number {
    if (this.bit(m.choice, 0) === 0) return this.tree(m.low, posState << 3, 3);
    if (this.bit(m.choice, 1) === 0) return 8 + this.tree(m.mid, posState << 3, 3);
    return 16 + this.tree(m.high, 0, 8);
  }

  private distance(len: number): number {
    const lenState = len < 3 ? len : 3;
    const slot = this.tree(this.posSlot, lenState << 6, 6);
    if (slot < 4) return slot;
    const bits = (slot >>> 1) - 1;
    let dist = ((2 | (slot & 1)) << bits) >>> 0;
    if (slot < END_POS_MODEL) {
      dist += this.reverseTree(this.posSpecial, dist - slot, bits);
    } else {
      dist = (dist + ((this.direct(bits - 4) << 4) >>> 0)) >>> 0;
      dist += this.reverseTree(this.align, 0, 4);
    }
    return dist >>> 0;
  }

  /**
   * Decode until the output reaches `limit` (a chunk or a known size), or,
   * with limit = Infinity, until the end-of-stream marker. Returns true if
   * the marker was seen.
   */
  decode(limit: number, markerAllowed: boolean): boolean {
    const out = this.out;
    const pbMask = (1 << this.pb) - 1;
    const lpMask = (1 << this.lp) - 1;
    const lc = this.lc;
    const dictMax = this.dictSize;
    let state = this.state;
    let rep0 = this.rep0;
    let rep1 = this.rep1;
    let rep2 = this.rep2;
    let rep3 = this.rep3;
    let marker = false;
    // With a known end the room is made once; only an open-ended stream
    // (.lzma of unknown size) grows as it goes.
    const open = limit === Infinity;
    if (!open) out.reserve(limit - out.pos);

    while (out.pos < limit) {
      const pos = out.pos;
      const rel = pos - this.dictStart;
      const posState = rel & pbMask;

      if (this.bit(this.isMatch, (state << 4) + posState) === 0) {
        const prev = rel > 0 ? out.buf[pos - 1] : 0;
        const base = 0x300 * (((rel & lpMask) << lc) + (prev >>> (8 - lc)));
        let sym: number;
        if (state >= 7) {
          if (rep0 >= rel) throw new CorruptData('LZMA match before the start of the data');
          sym = this.matchedLiteral(base, out.buf[pos - rep0 - 1]);
          while (sym < 0x100) sym = (sym << 1) | this.bit(this.literal, base + sym);
        } else {
          sym = this.tree(this.literal, base, 8);
        }
        if (open) out.reserve(1);
        out.buf[out.pos++] = sym & 0xff;
        state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
        continue;
      }

      let len: number;
      if (this.bit(this.isRep, state) === 1) {
        if (rel === 0) throw new CorruptData('LZMA repeat with no data before it');
        if (this.bit(this.isRepG0, state) === 0) {
          if (this.bit(this.isRep0Long, (state << 4) + posState) === 0) {
            // A "short rep": one byte from rep0.
            state = state < 7 ? 9 : 11;
            if (open) out.reserve(1);
            out.buf[out.pos] = out.buf[pos - rep0 - 1];
            out.pos++;
            continue;
          }
        } else {
          let dist: number;
          if (this.bit(this.isRepG1, state) === 0) {
            dist = rep1;
          } else {
            if (this.bit(this.isRepG2, state) === 0) {
              dist = rep2;
            } else {
              dist = rep3;
              rep3 = rep2;
            }
            rep2 = rep1;
          }
          rep1 = rep0;
          rep0 = dist;
        }
        len = this.length(this.repLenModel, posState);
        state = state < 7 ? 8 : 11;
      } else {
        rep3 = rep2;
        rep2 = rep1;
        rep1 = rep0;
        len = this.length(this.lenModel, posState);
        state = state < 7 ? 7 : 10;
        rep0 = this.distance(len);
        if (rep0 === 0xffffffff) {
          if (!markerAllowed) throw new CorruptData('unexpected LZMA end marker');
          marker = true;
          break;
        }
      }

      len += MATCH_MIN;
      if (rep0 >= rel || rep0 >= dictMax) throw new CorruptData('LZMA match distance too far back');
      if (pos + len > limit) throw new CorruptData('LZMA match past the end of the data');
      if (open) out.reserve(len);
      const buf = out.buf;
      let from = pos - rep0 - 1;
      let to = pos;
      const stop = pos + len;
      while (to < stop) buf[to++] = buf[from++];
      out.pos = stop;
    }

    this.state = state;
    this.rep0 = rep0;
    this.rep1 = rep1;
    this.rep2 = rep2;
    this.rep3 = rep3;
    return marker;
  }
}
