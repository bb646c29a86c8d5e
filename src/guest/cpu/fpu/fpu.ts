/**
 * The x87 floating-point unit of our P6-class CPU.
 *
 * Representation. The eight data registers hold the exact 80-bit contents a
 * real FPU holds (a sign/exponent word and two 32-bit significand words per
 * physical register), so fld/fstp m80, fsave/frstor and fxsave round-trip
 * every bit pattern, including denormals, pseudo-denormals, unnormals and
 * NaN payloads. Arithmetic is done by a software implementation of the
 * double-extended format (softfloat.ts) that rounds once, as the hardware
 * does, to the precision selected by the control word (24, 53 or 64 bits)
 * with the extended exponent range: add, subtract, multiply, divide, square
 * root, remainder, scale, round-to-integer, the compares and all conversions
 * (m32/m64/m80, integers of 16/32/64 bits, packed BCD) are bit-exact,
 * including the exception flags and C1. There is no loss beyond 2^53: 64-bit
 * integers and 64-bit significands are held exactly. The transcendental
 * instructions (fsin, fcos, fsincos, fptan, fpatan, f2xm1, fyl2x, fyl2xp1)
 * are evaluated in double-double arithmetic and rounded once under the
 * control word: within 1 ulp of the 64-bit result, and mostly bit-exact
 * with this machine's x87 (see transcendental.ts). Nothing is allocated per
 * instruction (the BigInt reduction of trigonometric arguments beyond 2^29
 * aside).
 *
 * Exceptions follow the hardware: masked exceptions give the IEEE default
 * result; an unmasked one sets ES and B, suppresses the result where the
 * hardware does (invalid, denormal, zero-divide; overflow and underflow to
 * memory) or delivers the exponent-wrapped result (overflow/underflow to a
 * register), and the next waiting x87 instruction calls host.raiseMF().
 *
 * The CPU decodes D8-DF with the table in fpu-opcodes.ts (an encoding not in
 * the table is #UD) and handles CR0.EM/TS (#NM) and fwait itself.
 */
import {
  Num, ZERO, FINITE, INF, QNAN, SNAN, BAD, IE, DE, ZE, OE, UE, SF, C1, DBL, SGL,
  CMP_LT, CMP_EQ, CMP_GT, RC_DOWN, RC_UP,
  unpackExt, unpackDouble, unpackSingle, unpackInt, extSE, packDouble, packSingle, packedLo,
  roundTo, add, mul, div, sqrt, compare, cmpFlags, roundToInt, INT, roundInt, scale,
  remainder, remQuot, remPartial,
} from './softfloat';
import { trig, atan2, exp2m1, ylog2x } from './transcendental';
import { CF as EF_CF, PF as EF_PF, ZF as EF_ZF } from '../flags';

export interface FpuHost {
  /** Guest linear-address accessors (paging applied); they throw on a fault. */
  read8(addr: number): number; read16(addr: number): number; read32(addr: number): number;
  write8(addr: number, v: number): void; write16(addr: number, v: number): void;
  write32(addr: number, v: number): void;
  /** Check that [addr, addr+len) is writable before a multi-part store. */
  checkWrite(addr: number, len: number): void;
  getEflags(): number;
  /** fcomi/fucomi: set ZF PF CF, clear OF SF AF. */
  setArithFlags(zf: boolean, pf: boolean, cf: boolean): void;
  setAx(v: number): void;
  /** #MF (vector 16): called by a waiting instruction while an unmasked exception is pending. */
  raiseMF(): void;
}

// Status word bits beyond the exception flags.
const ES = 0x80, SW_C0 = 0x100, SW_C1 = 0x200, SW_C2 = 0x400, SW_C3 = 0x4000, SW_B = 0x8000;
const SW_CC = SW_C0 | SW_C1 | SW_C2 | SW_C3;
const EXC = 0x3F;

const CW_INIT = 0x037F;
/** fldcw keeps the masks, PC, RC and the (ignored) infinity bit; bit 6 reads as 1. */
const CW_WRITABLE = 0x1F3F, CW_ALWAYS = 0x0040;

/**
 * The constants of fld1 ... fldz: significand rounded to nearest, exponent,
 * and the direction of that rounding (1 up, -1 down, 0 exact), so that the
 * other rounding modes can be derived as the hardware does.
 */
const CONSTANTS: readonly (readonly [number, number, number, number])[] = [
  [0x80000000, 0x00000000, 0, 0],   // fld1
  [0xD49A784B, 0xCD1B8AFE, 1, -1],  // fldl2t: log2(10)
  [0xB8AA3B29, 0x5C17F0BC, 0, 1],   // fldl2e: log2(e)
  [0xC90FDAA2, 0x2168C235, 1, 1],   // fldpi
  [0x9A209A84, 0xFBCFF799, -2, 1],  // fldlg2: log10(2)
  [0xB17217F7, 0xD1CF79AC, -1, 1],  // fldln2: ln(2)
];

export class Fpu {
  private cw = CW_INIT;
  /** Status word without TOP (bits 11-13), which lives in `top`. */
  private sw = 0;
  private top = 0;
  /** Bit i set: physical register i is empty (the abridged tag, inverted). */
  private empty = 0xFF;
  private readonly se = new Uint16Array(8);
  // Significand words as int32: read as uint32 (>= 2^31) and passed to a
  // call, they would be boxed as heap numbers.
  private readonly mhi = new Int32Array(8);
  private readonly mlo = new Int32Array(8);
  // Last instruction and operand pointers, and the opcode.
  private fip = 0; private fcs = 0; private fdp = 0; private fds = 0; private fop = 0;
  private nextCs = 0; private nextEip = 0; private nextDs = 0;
  /** MXCSR as the guest wrote it with fxrstor; there is no SSE unit behind it. */
  private mxcsr = 0x1F80;

  // Scratch operands, reused by every instruction.
  private readonly a = new Num();
  private readonly b = new Num();
  private readonly r = new Num();
  private readonly r2 = new Num();
  private readonly img = new Uint8Array(512);

  constructor(private readonly host: FpuHost) {}

  // ---- The public interface ---------------------------------------------

  setLastInstruction(cs: number, eip: number, ds: number): void {
    this.nextCs = cs; this.nextEip = eip; this.nextDs = ds;
  }

  hasPendingException(): boolean { return (this.sw & ES) !== 0; }

  /** fninit, and the state after power-on. */
  reset(): void {
    this.cw = CW_INIT; this.sw = 0; this.top = 0; this.empty = 0xFF;
    this.fip = 0; this.fcs = 0; this.fdp = 0; this.fds = 0; this.fop = 0;
  }

  saveState(): Uint8Array {
    const out = new Uint8Array(108);
    this.writeImage(out, false, true);
    return out;
  }

  execute(op: number, modrm: number, addr: number, o16: boolean): void {
    if (modrm >= 0xC0) this.execReg(op, modrm);
    else this.execMem(op, modrm, addr, o16);
  }

  /** FXSAVE: the 512-byte image. Bytes 288-511 are left untouched, as hardware does. */
  fxsave(addr: number): void {
    this.host.checkWrite(addr, 288);
    const m = this.img;
    m.fill(0, 0, 288);
    put16(m, 0, this.cw); put16(m, 2, this.statusWord());
    m[4] = (~this.empty) & 0xFF;
    put16(m, 6, this.fop);
    put32(m, 8, this.fip); put16(m, 12, this.fcs);
    put32(m, 16, this.fdp); put16(m, 20, this.fds);
    put32(m, 24, this.mxcsr);
    // MXCSR_MASK 0: "use the default mask 0xFFBF", what CPUs before SSE wrote there.
    put32(m, 28, 0);
    for (let i = 0; i < 8; i++) this.putReg(m, 32 + 16 * i, (this.top + i) & 7);
    for (let i = 0; i < 288; i += 4) this.host.write32(addr + i, get32(m, i));
  }

  /** FXRSTOR: reads the whole image before changing anything. */
  fxrstor(addr: number): void {
    const m = this.img;
    for (let i = 0; i < 160; i += 4) put32(m, i, this.host.read32(addr + i));
    this.cw = (get16(m, 0) & CW_WRITABLE) | CW_ALWAYS;
    this.setStatusWord(get16(m, 2));
    this.empty = (~m[4]) & 0xFF;
    this.fop = get16(m, 6) & 0x7FF;
    this.fip = get32(m, 8); this.fcs = get16(m, 12);
    this.fdp = get32(m, 16); this.fds = get16(m, 20);
    this.mxcsr = get32(m, 24);
    for (let i = 0; i < 8; i++) this.getReg(m, 32 + 16 * i, (this.top + i) & 7);
  }

  // ---- Status, control and the register stack ---------------------------

  private statusWord(): number { return (this.sw & ~0x3800) | (this.top << 11); }

  private setStatusWord(v: number): void {
    this.top = (v >> 11) & 7;
    this.sw = v & ~0x3800;
  }

  private precision(): number {
    const pc = (this.cw >> 8) & 3;
    return pc === 0 ? 24 : pc === 2 ? 53 : 64;
  }

  private rc(): number { return (this.cw >> 10) & 3; }

  private phys(i: number): number { return (this.top + i) & 7; }
  private isEmpty(i: number): boolean { return ((this.empty >> this.phys(i)) & 1) !== 0; }

  private load(i: number, out: Num): void {
    const p = this.phys(i);
    unpackExt(this.se[p], this.mhi[p], this.mlo[p], out);
  }

  private store(i: number, v: Num): void {
    const p = this.phys(i);
    this.se[p] = extSE(v); this.mhi[p] = v.hi; this.mlo[p] = v.lo;
    this.empty &= ~(1 << p);
  }

  private copyReg(from: number, to: number): void {
    const f = this.phys(from), t = this.phys(to);
    this.se[t] = this.se[f]; this.mhi[t] = this.mhi[f]; this.mlo[t] = this.mlo[f];
    this.empty &= ~(1 << t);
  }

  private storeIndefinite(i: number): void {
    this.r.setIndefinite();
    this.store(i, this.r);
  }

  private pop(): void {
    this.empty |= 1 << this.top;
    this.top = (this.top + 1) & 7;
  }

  private setC1(on: boolean): void {
    if (on) this.sw |= SW_C1; else this.sw &= ~SW_C1;
  }

  private setCC(c3: boolean, c2: boolean, c1: boolean, c0: boolean): void {
    this.sw = (this.sw & ~SW_CC) | (c3 ? SW_C3 : 0) | (c2 ? SW_C2 : 0) | (c1 ? SW_C1 : 0) | (c0 ? SW_C0 : 0);
  }

  /** Record exception flags and update the summary bits. */
  private raise(flags: number): void {
    this.sw |= flags & (EXC | SF);
    if (this.sw & ~this.cw & EXC) this.sw |= ES | SW_B;
  }

  /**
   * Record the flags of an operation and decide whether its result may be
   * delivered: an unmasked invalid, denormal or zero-divide exception (and,
   * for memory destinations, overflow or underflow) suppresses it. For a
   * delivered result C1 says whether it was rounded up.
   */
  private commit(flags: number, toMemory: boolean): boolean {
    const unmasked = flags & ~this.cw & EXC;
    if (unmasked & (IE | DE | ZE) || (toMemory && (unmasked & (OE | UE)))) {
      // The first unmasked exception in priority order stops the instruction.
      const stop = unmasked & IE ? flags & (IE | SF) : unmasked & DE ? DE
        : unmasked & ZE ? flags & (DE | ZE) : flags & (DE | OE | UE);
      this.raise(stop);
      this.setC1(false);
      return false;
    }
    this.raise(flags);
    this.setC1((flags & C1) !== 0);
    return true;
  }

  /** Stack underflow: returns true (and records it) if ST(i) is empty. */
  private underflow(i: number): boolean {
    if (!this.isEmpty(i)) return false;
    this.setC1(false);
    this.raise(IE | SF);
    return true;
  }

  private underflow2(i: number, j: number): boolean {
    if (!this.isEmpty(i) && !this.isEmpty(j)) return false;
    this.setC1(false);
    this.raise(IE | SF);
    return true;
  }

  private masked(bit: number): boolean { return (this.cw & bit) !== 0; }

  /** Push `v` (already checked by the caller for its own exceptions). */
  private push(v: Num): void {
    this.top = (this.top - 1) & 7;
    this.store(0, v);
  }

  /** Stack overflow on a push: records it, pushes the indefinite if masked; true if it happened. */
  private overflow(): boolean {
    if (this.isEmpty(7)) return false;
    this.setC1(true);
    this.raise(IE | SF);
    if (this.masked(IE)) { this.top = (this.top - 1) & 7; this.storeIndefinite(0); }
    return true;
  }

  private wait(): void {
    if (this.sw & ES) this.host.raiseMF();
  }

  /** Remember this instruction for fnstenv/fsave (FIP, FCS, FOP, FDP, FDS).
   *  FDP is the linear address we are given, which equals the offset the
   *  hardware stores for the flat segments Linux uses. Register forms leave
   *  FDP/FDS alone. */
  private touch(op: number, modrm: number, addr: number): void {
    this.fip = this.nextEip; this.fcs = this.nextCs;
    this.fop = ((op & 7) << 8) | modrm;
    if (modrm < 0xC0) { this.fdp = addr >>> 0; this.fds = this.nextDs; }
  }

  // ---- Memory forms ------------------------------------------------------

  private execMem(op: number, modrm: number, addr: number, o16: boolean): void {
    const reg = (modrm >> 3) & 7;
    const key = ((op & 7) << 3) | reg;
    const h = this.host;
    switch (key) {   // the non-waiting control instructions
      case 0o16: this.fnstenv(addr, o16); return;
      case 0o17: h.write16(addr, this.cw); return;
      case 0o56: this.fnsave(addr, o16); return;
      case 0o57: h.write16(addr, this.statusWord()); return;
    }
    this.wait();
    const b = this.b;
    switch (key) {
      case 0o00: case 0o01: case 0o02: case 0o03: case 0o04: case 0o05: case 0o06: case 0o07:
        unpackSingle(h.read32(addr), b);
        this.touch(op, modrm, addr); this.arithMem(reg, b); return;
      case 0o40: case 0o41: case 0o42: case 0o43: case 0o44: case 0o45: case 0o46: case 0o47: {
        const lo = h.read32(addr);
        unpackDouble(h.read32(addr + 4), lo, b);
        this.touch(op, modrm, addr); this.arithMem(reg, b); return;
      }
      case 0o20: case 0o21: case 0o22: case 0o23: case 0o24: case 0o25: case 0o26: case 0o27:
        loadInt32(h.read32(addr), b);
        this.touch(op, modrm, addr); this.arithMem(reg, b); return;
      case 0o60: case 0o61: case 0o62: case 0o63: case 0o64: case 0o65: case 0o66: case 0o67:
        loadInt32((h.read16(addr) << 16) >> 16, b);
        this.touch(op, modrm, addr); this.arithMem(reg, b); return;

      case 0o10: unpackSingle(h.read32(addr), b); this.touch(op, modrm, addr); this.fldConverted(b); return;
      case 0o50: {
        const lo = h.read32(addr);
        unpackDouble(h.read32(addr + 4), lo, b);
        this.touch(op, modrm, addr); this.fldConverted(b); return;
      }
      case 0o30: loadInt32(h.read32(addr), b); this.touch(op, modrm, addr); this.fldExact(b); return;
      case 0o70: loadInt32((h.read16(addr) << 16) >> 16, b); this.touch(op, modrm, addr); this.fldExact(b); return;
      case 0o75: {
        const lo = h.read32(addr), hi = h.read32(addr + 4);
        if (hi & 0x80000000) {   // two's complement magnitude
          const nl = (~lo + 1) | 0;   // int32 words: no boxing on the call
          unpackInt(true, (~hi + (nl === 0 ? 1 : 0)) | 0, nl, b);
        } else unpackInt(false, hi, lo, b);
        this.touch(op, modrm, addr); this.fldExact(b); return;
      }
      case 0o35: {
        const lo = h.read32(addr), hi = h.read32(addr + 4), se = h.read16(addr + 8);
        this.touch(op, modrm, addr);
        if (this.overflow()) return;
        const p = (this.top - 1) & 7;
        this.top = p;
        this.se[p] = se; this.mhi[p] = hi; this.mlo[p] = lo; this.empty &= ~(1 << p);
        this.setC1(false);
        return;
      }
      case 0o74: this.fbld(addr, op, modrm); return;

      case 0o12: case 0o13: this.fstFloat(addr, false, reg === 3, op, modrm); return;
      case 0o52: case 0o53: this.fstFloat(addr, true, reg === 3, op, modrm); return;
      case 0o37: this.fstp80(addr, op, modrm); return;
      case 0o32: case 0o33: this.fistMem(addr, 32, reg === 3, op, modrm); return;
      case 0o72: case 0o73: this.fistMem(addr, 16, reg === 3, op, modrm); return;
      case 0o77: this.fistMem(addr, 64, true, op, modrm); return;
      case 0o76: this.fbstp(addr, op, modrm); return;

      case 0o14: this.fldenv(addr, o16); return;
      case 0o15: this.cw = (h.read16(addr) & CW_WRITABLE) | CW_ALWAYS; this.updateES(); return;
      case 0o54: this.frstor(addr, o16); return;
    }
    throw new Error(`x87 ${hex(op)} /${reg} is not an instruction; the decoder must raise #UD`);
  }

  /** ES and B follow the flags and the masks (fldcw, fldenv, frstor). */
  private updateES(): void {
    if (this.sw & ~this.cw & EXC) this.sw |= ES | SW_B;
    else this.sw &= ~(ES | SW_B);
  }

  /** The arithmetic group with a memory operand: ST(0) op= m. */
  private arithMem(reg: number, m: Num): void {
    if (reg === 2 || reg === 3) {
      if (this.underflow(0)) { this.compareUnordered(reg === 3 ? 1 : 0); return; }
      this.load(0, this.a);
      this.compareCC(this.a, m, false, reg === 3 ? 1 : 0);
      return;
    }
    if (this.underflow(0)) { if (this.masked(IE)) this.storeIndefinite(0); return; }
    this.load(0, this.a);
    const f = this.arith(reg, this.a, m, this.r);
    if (this.commit(f, false)) this.store(0, this.r);
  }

  /** ST(0) op other: 0 add, 1 mul, 4 st0-other, 5 other-st0, 6 st0/other, 7 other/st0. */
  private arith(kind: number, st0: Num, other: Num, out: Num): number {
    const p = this.precision(), rc = this.rc(), cw = this.cw;
    switch (kind) {
      case 0: return add(st0, other, false, p, rc, cw, out);
      case 1: return mul(st0, other, p, rc, cw, out);
      case 4: return add(st0, other, true, p, rc, cw, out);
      case 5: return add(other, st0, true, p, rc, cw, out);
      case 6: return div(st0, other, p, rc, cw, out);
      default: return div(other, st0, p, rc, cw, out);
    }
  }

  /** fld of a converted m32/m64 value: an SNaN signals IE; a denormal is
   *  loaded (normalized) and reports DE even when DE is unmasked. */
  private fldConverted(v: Num): void {
    if (this.overflow()) return;
    if (v.cls === SNAN) {
      if (!this.commit(IE, false)) return;
      v.hi = (v.hi | 0x40000000) >>> 0; v.cls = QNAN;
    }
    this.raise(v.den ? DE : 0);
    this.setC1(false);
    this.push(v);
  }

  private fldExact(v: Num): void {
    if (this.overflow()) return;
    this.setC1(false);
    this.push(v);
  }

  private fstFloat(addr: number, dbl: boolean, pop: boolean, op: number, modrm: number): void {
    const h = this.host;
    let flags = 0, whi: number, wlo = 0;
    if (this.isEmpty(0)) {
      flags = IE | SF;
      whi = dbl ? 0xFFF80000 : 0xFFC00000;
    } else {
      const a = this.a, r = this.r;
      this.load(0, a);
      switch (a.cls) {
        case BAD: flags = IE; r.setIndefinite(); break;
        case SNAN: flags = IE; r.copy(a); r.hi = (r.hi | 0x40000000) >>> 0; break;
        case FINITE: flags = roundTo(a, dbl ? 53 : 24, dbl ? DBL : SGL, this.rc(), this.cw, false, r); break;
        default: r.copy(a);
      }
      if (dbl) { whi = packDouble(r); wlo = packedLo; } else whi = packSingle(r);
    }
    if (flags & ~this.cw & (IE | OE | UE)) {
      this.touch(op, modrm, addr);
      this.commit(flags, true);
      return;
    }
    if (dbl) { h.checkWrite(addr, 8); h.write32(addr, wlo); h.write32(addr + 4, whi); }
    else h.write32(addr, whi);
    this.touch(op, modrm, addr);
    this.commit(flags, true);
    if (pop) this.pop();
  }

  private fstp80(addr: number, op: number, modrm: number): void {
    const h = this.host;
    if (this.isEmpty(0)) {
      this.touch(op, modrm, addr);
      if (!this.masked(IE)) { this.underflow(0); return; }
      h.checkWrite(addr, 10);
      h.write32(addr, 0); h.write32(addr + 4, 0xC0000000); h.write16(addr + 8, 0xFFFF);
      this.underflow(0);
      this.pop();
      return;
    }
    const p = this.phys(0);
    h.checkWrite(addr, 10);
    h.write32(addr, this.mlo[p]); h.write32(addr + 4, this.mhi[p]); h.write16(addr + 8, this.se[p]);
    this.touch(op, modrm, addr);
    this.setC1(false);
    this.pop();
  }

  /** fist/fistp to a 16-, 32- or 64-bit integer. */
  private fistMem(addr: number, bits: number, pop: boolean, op: number, modrm: number): void {
    const h = this.host;
    // The integer indefinite (the most negative integer) unless a value is computed.
    let flags = 0, whi = bits === 64 ? 0x80000000 : 0, wlo = bits === 64 ? 0 : bits === 32 ? 0x80000000 : 0x8000;
    if (this.isEmpty(0)) flags = IE | SF;
    else {
      const a = this.a;
      this.load(0, a);
      if (a.cls !== FINITE && a.cls !== ZERO) flags = IE;
      else {
        const f = roundToInt(a, this.rc());
        // The magnitude must be below 2^(bits-1), or equal to it when negative.
        const intHi = INT[0], intLo = INT[1];
        const lh = bits === 64 ? 0x80000000 : 0, ll = bits === 64 ? 0 : bits === 32 ? 0x80000000 : 0x8000;
        const cmp = f < 0 ? 1 : intHi !== lh ? (intHi > lh ? 1 : -1) : intLo !== ll ? (intLo > ll ? 1 : -1) : 0;
        if (cmp > 0 || (cmp === 0 && a.s === 0)) flags = IE;
        else {
          flags = f;
          // The words as int32 (write32 takes either): a computed uint32 passed on would be boxed.
          if (a.s) {   // two's complement
            wlo = (~intLo + 1) | 0;
            whi = (~intHi + (wlo === 0 ? 1 : 0)) | 0;
          } else { wlo = intLo | 0; whi = intHi | 0; }
          if (bits === 16) wlo &= 0xFFFF;
        }
      }
    }
    if (flags & ~this.cw & IE) {
      this.touch(op, modrm, addr);
      this.commit(flags, true);
      return;
    }
    if (bits === 64) { h.checkWrite(addr, 8); h.write32(addr, wlo); h.write32(addr + 4, whi); }
    else if (bits === 32) h.write32(addr, wlo);
    else h.write16(addr, wlo);
    this.touch(op, modrm, addr);
    this.commit(flags, true);
    if (pop) this.pop();
  }

  private fbld(addr: number, op: number, modrm: number): void {
    const h = this.host;
    const lo = h.read32(addr), mid = h.read32(addr + 4), top = h.read16(addr + 8);
    this.touch(op, modrm, addr);
    // 18 digits, most significant in byte 8; accumulate in two words.
    let ih = 0, il = 0;
    for (let i = 17; i >= 0; i--) {
      const byte = i >= 16 ? (top >> ((i - 16) >> 1) * 8) & 0xFF : i >= 8 ? (mid >>> ((i - 8) >> 1) * 8) & 0xFF : (lo >>> (i >> 1) * 8) & 0xFF;
      const digit = (i & 1) ? byte >> 4 : byte & 0xF;
      const l = il * 10 + digit;
      il = l % 4294967296;
      ih = ih * 10 + (l - il) / 4294967296;
    }
    const neg = (top & 0x8000) !== 0;
    if (ih === 0 && il === 0) this.b.setZero(neg ? 1 : 0);
    else unpackInt(neg, ih, il, this.b);
    this.fldExact(this.b);
  }

  private fbstp(addr: number, op: number, modrm: number): void {
    const h = this.host;
    let flags = 0, neg = false, ih = 0, il = 0;
    let indefinite = false;
    if (this.isEmpty(0)) { flags = IE | SF; indefinite = true; }
    else {
      const a = this.a;
      this.load(0, a);
      if (a.cls !== FINITE && a.cls !== ZERO) { flags = IE; indefinite = true; }
      else {
        const f = roundToInt(a, this.rc());
        // 10^18 = 0x0DE0B6B3_A7640000
        if (f < 0 || INT[0] > 0x0DE0B6B3 || (INT[0] === 0x0DE0B6B3 && INT[1] >= 0xA7640000)) { flags = IE; indefinite = true; }
        else { flags = f; neg = a.s === 1; ih = INT[0]; il = INT[1]; }
      }
    }
    if (flags & ~this.cw & IE) {
      this.touch(op, modrm, addr);
      this.commit(flags, true);
      return;
    }
    const m = this.img;
    if (indefinite) {
      m.fill(0, 0, 10); m[7] = 0xC0; m[8] = 0xFF; m[9] = 0xFF;
    } else {
      for (let i = 0; i < 9; i++) {
        let byte = 0;
        for (let d = 0; d < 2; d++) {   // divide ih:il by 10
          const rh = ih % 10;
          ih = (ih - rh) / 10;
          const x = rh * 4294967296 + il;
          const q = Math.floor(x / 10);
          byte |= (x - q * 10) << (4 * d);
          il = q;
        }
        m[i] = byte;
      }
      m[9] = neg ? 0x80 : 0;
    }
    h.checkWrite(addr, 10);
    h.write32(addr, get32(m, 0)); h.write32(addr + 4, get32(m, 4)); h.write16(addr + 8, get16(m, 8));
    this.touch(op, modrm, addr);
    this.commit(flags, true);
    this.pop();
  }

  // ---- Environment and state images --------------------------------------

  /** The full tag word, recomputed from the register contents. */
  private tagWord(): number {
    let tw = 0;
    for (let p = 0; p < 8; p++) {
      let t: number;
      if ((this.empty >> p) & 1) t = 3;
      else {
        const exp = this.se[p] & 0x7FFF;
        if (exp === 0x7FFF) t = 2;
        else if (exp === 0) t = (this.mhi[p] === 0 && this.mlo[p] === 0) ? 1 : 2;
        else t = (this.mhi[p] & 0x80000000) ? 0 : 2;
      }
      tw |= t << (2 * p);
    }
    return tw;
  }

  /** Write the fnstenv (and with `regs`, fnsave) image into m. */
  private writeImage(m: Uint8Array, o16: boolean, regs: boolean): number {
    let n: number;
    if (o16) {
      put16(m, 0, this.cw); put16(m, 2, this.statusWord()); put16(m, 4, this.tagWord());
      put16(m, 6, this.fip); put16(m, 8, this.fcs); put16(m, 10, this.fdp); put16(m, 12, this.fds);
      n = 14;
    } else {
      // The reserved upper halves read as ones on real hardware.
      put32(m, 0, 0xFFFF0000 | this.cw); put32(m, 4, 0xFFFF0000 | this.statusWord());
      put32(m, 8, 0xFFFF0000 | this.tagWord());
      put32(m, 12, this.fip); put32(m, 16, (this.fop << 16 | this.fcs) >>> 0);
      put32(m, 20, this.fdp); put32(m, 24, 0xFFFF0000 | this.fds);
      n = 28;
    }
    if (regs) for (let i = 0; i < 8; i++, n += 10) this.putReg(m, n, this.phys(i));
    return n;
  }

  private putReg(m: Uint8Array, off: number, p: number): void {
    put32(m, off, this.mlo[p]); put32(m, off + 4, this.mhi[p]); put16(m, off + 8, this.se[p]);
  }

  private getReg(m: Uint8Array, off: number, p: number): void {
    this.mlo[p] = get32(m, off); this.mhi[p] = get32(m, off + 4); this.se[p] = get16(m, off + 8);
  }

  private storeImage(addr: number, n: number): void {
    const h = this.host, m = this.img;
    h.checkWrite(addr, n);
    let i = 0;
    for (; i + 4 <= n; i += 4) h.write32(addr + i, get32(m, i));
    if (i < n) h.write16(addr + i, get16(m, i));
  }

  private fnstenv(addr: number, o16: boolean): void {
    this.storeImage(addr, this.writeImage(this.img, o16, false));
    this.cw |= EXC;
    this.updateES();
  }

  private fnsave(addr: number, o16: boolean): void {
    this.storeImage(addr, this.writeImage(this.img, o16, true));
    this.reset();
  }

  private readImage(addr: number, n: number): void {
    const h = this.host, m = this.img;
    let i = 0;
    for (; i + 4 <= n; i += 4) put32(m, i, h.read32(addr + i));
    if (i < n) put16(m, i, h.read16(addr + i));
  }

  /** Load the environment part of img (already read from memory). */
  private loadEnv(o16: boolean): number {
    const m = this.img, w = o16 ? 2 : 4;   // field width of the layout
    this.cw = (get16(m, 0) & CW_WRITABLE) | CW_ALWAYS;
    this.setStatusWord(get16(m, w));
    const tw = get16(m, 2 * w);
    this.empty = 0;
    for (let p = 0; p < 8; p++) if (((tw >> (2 * p)) & 3) === 3) this.empty |= 1 << p;
    if (o16) {
      this.fip = get16(m, 6); this.fcs = get16(m, 8); this.fdp = get16(m, 10); this.fds = get16(m, 12);
      this.fop = 0;
      return 14;
    }
    this.fip = get32(m, 12); this.fcs = get16(m, 16); this.fop = get16(m, 18) & 0x7FF;
    this.fdp = get32(m, 20); this.fds = get16(m, 24);
    return 28;
  }

  private fldenv(addr: number, o16: boolean): void {
    this.readImage(addr, o16 ? 14 : 28);
    this.loadEnv(o16);
    this.updateES();
  }

  private frstor(addr: number, o16: boolean): void {
    this.readImage(addr, o16 ? 94 : 108);
    let n = this.loadEnv(o16);
    for (let i = 0; i < 8; i++, n += 10) this.getReg(this.img, n, this.phys(i));
    this.updateES();
  }

  // ---- Register forms ----------------------------------------------------

  private execReg(op: number, modrm: number): void {
    const i = modrm & 7, reg = (modrm >> 3) & 7;
    // The non-waiting ones first: fnclex, fninit, fnstsw ax, and the 287 leftovers.
    if (op === 0xDB && modrm >= 0xE0 && modrm <= 0xE4) {
      if (modrm === 0xE2) this.sw &= ~(EXC | SF | ES | SW_B);
      else if (modrm === 0xE3) this.reset();
      return;
    }
    if (op === 0xDF && modrm === 0xE0) { this.host.setAx(this.statusWord()); return; }
    this.wait();
    this.touch(op, modrm, 0);
    switch (op) {
      case 0xD8:
        if (reg === 2 || reg === 3) { this.fcomReg(i, false, reg === 3 ? 1 : 0); return; }
        this.arithReg(reg, 0, i, false); return;
      case 0xDC:
        if (reg === 2 || reg === 3) { this.fcomReg(i, false, reg === 3 ? 1 : 0); return; }
        this.arithReg(reg, i, i, false); return;
      case 0xDE:
        if (reg === 2) { this.fcomReg(i, false, 1); return; }
        if (reg === 3) { if (i === 1) { this.fcomReg(1, false, 2); return; } break; }
        this.arithReg(reg, i, i, true); return;
      case 0xD9: if (this.execD9(modrm, reg, i)) return; break;
      case 0xDA:
        if (modrm < 0xE0) { this.fcmov(reg, i, false); return; }
        if (modrm === 0xE9) { this.fcomReg(1, true, 2); return; }
        break;
      case 0xDB:
        if (modrm < 0xE0) { this.fcmov(reg, i, true); return; }
        if (reg === 5 || reg === 6) { this.fcomi(i, reg === 5, false); return; }
        break;
      case 0xDD:
        switch (reg) {
          case 0: this.empty |= 1 << this.phys(i); return;
          case 1: this.fxch(i); return;
          case 2: this.fstReg(i, false); return;
          case 3: this.fstReg(i, true); return;
          case 4: this.fcomReg(i, true, 0); return;
          case 5: this.fcomReg(i, true, 1); return;
        }
        break;
      case 0xDF:
        switch (reg) {
          case 0: this.empty |= 1 << this.phys(i); this.pop(); return;   // ffreep
          case 1: this.fxch(i); return;
          case 2: case 3: this.fstReg(i, true); return;
          case 5: case 6: this.fcomi(i, reg === 5, true); return;
        }
        break;
    }
    throw new Error(`x87 ${hex(op)} ${hex(modrm)} is not an instruction; the decoder must raise #UD`);
  }

  /** Arithmetic between ST(0) and ST(i) into ST(dst), popping for the p forms. */
  private arithReg(reg: number, dst: number, i: number, pop: boolean): void {
    if (this.underflow2(0, i)) {
      if (!this.masked(IE)) return;
      this.storeIndefinite(dst);
    } else {
      this.load(0, this.a); this.load(i, this.b);
      const f = this.arith(reg, this.a, this.b, this.r);
      if (!this.commit(f, false)) return;
      this.store(dst, this.r);
    }
    if (pop) this.pop();
  }

  /** After a stack fault: "unordered", and the pops only if the fault is masked. */
  private compareUnordered(pops: number): void {
    this.setCC(true, true, false, true);
    if (!this.masked(IE)) return;
    for (let k = 0; k < pops; k++) this.pop();
  }

  /** Set C3 C2 C0 from compare(a, b) and pop `pops` times; even an unmasked
   *  exception leaves the condition codes set, but then nothing is popped. */
  private compareCC(a: Num, b: Num, quiet: boolean, pops: number): void {
    const rel = compare(a, b, quiet);
    const ok = this.commit(cmpFlags, false);
    this.setCC(rel === CMP_EQ || rel > CMP_GT, rel > CMP_GT, false, rel === CMP_LT || rel > CMP_GT);
    if (ok) for (let k = 0; k < pops; k++) this.pop();
  }

  private fcomReg(i: number, quiet: boolean, pops: number): void {
    if (this.underflow2(0, i)) { this.compareUnordered(pops); return; }
    this.load(0, this.a); this.load(i, this.b);
    this.compareCC(this.a, this.b, quiet, pops);
  }

  /**
   * fcomi/fucomi (and the popping forms): the result goes to ZF PF CF, even
   * when an unmasked exception stops the pop. C1 is left alone, as this
   * machine's x87 does (Intel documents it as cleared).
   */
  private fcomi(i: number, quiet: boolean, pop: boolean): void {
    let rel: number, ok: boolean;
    if (this.underflow2(0, i)) {
      rel = CMP_GT + 1;
      ok = this.masked(IE);
    } else {
      this.load(0, this.a); this.load(i, this.b);
      rel = compare(this.a, this.b, quiet);
      const c1 = this.sw & SW_C1;
      ok = this.commit(cmpFlags, false);
      this.sw = (this.sw & ~SW_C1) | c1;
    }
    const un = rel > CMP_GT;
    this.host.setArithFlags(un || rel === CMP_EQ, un, un || rel === CMP_LT);
    if (ok && pop) this.pop();
  }

  private fcmov(reg: number, i: number, negate: boolean): void {
    const fl = this.host.getEflags();
    let cond: boolean;
    switch (reg) {
      case 0: cond = (fl & EF_CF) !== 0; break;
      case 1: cond = (fl & EF_ZF) !== 0; break;
      case 2: cond = (fl & (EF_CF | EF_ZF)) !== 0; break;
      default: cond = (fl & EF_PF) !== 0;
    }
    if (negate) cond = !cond;
    if (this.underflow2(0, i)) { if (this.masked(IE)) this.storeIndefinite(0); return; }
    this.setC1(false);
    if (cond) this.copyReg(i, 0);
  }

  private fxch(i: number): void {
    if (this.underflow2(0, i)) {
      if (!this.masked(IE)) return;
      // The empty side reads as the indefinite.
      if (this.isEmpty(0)) this.storeIndefinite(0);
      if (this.isEmpty(i)) this.storeIndefinite(i);
    }
    const p = this.phys(0), q = this.phys(i);
    const se = this.se[p], hi = this.mhi[p], lo = this.mlo[p];
    this.se[p] = this.se[q]; this.mhi[p] = this.mhi[q]; this.mlo[p] = this.mlo[q];
    this.se[q] = se; this.mhi[q] = hi; this.mlo[q] = lo;
    this.setC1(false);
  }

  private fstReg(i: number, pop: boolean): void {
    if (this.underflow(0)) {
      if (!this.masked(IE)) return;
      this.storeIndefinite(i);
    } else {
      this.copyReg(0, i);
      this.setC1(false);
    }
    if (pop) this.pop();
  }

  /** D9 C0-FF. Returns false for an undefined encoding. */
  private execD9(modrm: number, reg: number, i: number): boolean {
    switch (reg) {
      case 0:   // fld st(i)
        if (this.underflow(i)) {
          if (this.masked(IE)) { this.top = (this.top - 1) & 7; this.storeIndefinite(0); }
          return true;
        }
        if (this.overflow()) return true;
        this.setC1(false);
        this.top = (this.top - 1) & 7;
        this.copyReg(i + 1, 0);
        return true;
      case 1: this.fxch(i); return true;
      case 2: return modrm === 0xD0;   // fnop
      case 3:   // fstp1, an alias of fstp st(i) that just pops an empty ST(0)
        if (this.isEmpty(0)) { this.setC1(false); this.pop(); }
        else this.fstReg(i, true);
        return true;
    }
    switch (modrm) {
      case 0xE0: case 0xE1: {   // fchs, fabs
        if (this.underflow(0)) { if (this.masked(IE)) this.storeIndefinite(0); return true; }
        const p = this.phys(0);
        this.se[p] = modrm === 0xE0 ? this.se[p] ^ 0x8000 : this.se[p] & 0x7FFF;
        this.setC1(false);
        return true;
      }
      case 0xE4:   // ftst
        if (this.underflow(0)) { this.compareUnordered(0); return true; }
        this.load(0, this.a); this.b.setZero(0);
        this.compareCC(this.a, this.b, false, 0);
        return true;
      case 0xE5: this.fxam(); return true;
      case 0xE8: case 0xE9: case 0xEA: case 0xEB: case 0xEC: case 0xED: case 0xEE:
        this.fldConstant(modrm - 0xE8); return true;
      case 0xF0: this.unary(modrm); return true;
      case 0xF1: this.binaryPop(modrm); return true;
      case 0xF2: this.trigPush(2); return true;
      case 0xF3: this.binaryPop(modrm); return true;
      case 0xF4: this.fxtract(); return true;
      case 0xF5: this.fprem(true); return true;
      case 0xF6: this.top = (this.top - 1) & 7; this.setC1(false); return true;
      case 0xF7: this.top = (this.top + 1) & 7; this.setC1(false); return true;
      case 0xF8: this.fprem(false); return true;
      case 0xF9: this.binaryPop(modrm); return true;
      case 0xFA: this.unary(modrm); return true;
      case 0xFB: this.trigPush(1); return true;
      case 0xFC: this.unary(modrm); return true;
      case 0xFD: this.fscale(); return true;
      case 0xFE: this.trigInPlace(0); return true;
      case 0xFF: this.trigInPlace(1); return true;
    }
    return false;
  }

  private fldConstant(k: number): void {
    if (this.overflow()) return;
    const r = this.r;
    if (k === 6) r.setZero(0);
    else {
      const [hi, lo, e, dir] = CONSTANTS[k];
      const rc = this.rc();
      // Nearest was rounded `dir`; the directed modes take the other neighbour.
      let adj = 0;
      if (dir > 0 && (rc === RC_DOWN || rc === 3)) adj = -1;
      if (dir < 0 && rc === RC_UP) adj = 1;
      r.cls = FINITE; r.s = 0; r.e = e; r.hi = hi; r.lo = (lo + adj) >>> 0; r.den = false;
    }
    this.setC1(false);
    this.push(r);
  }

  /** ST(0) := f(ST(0)) for f2xm1 (F0), fsqrt (FA), frndint (FC). */
  private unary(modrm: number): void {
    if (this.underflow(0)) { if (this.masked(IE)) this.storeIndefinite(0); return; }
    const a = this.a, r = this.r, cw = this.cw;
    this.load(0, a);
    const f = modrm === 0xF0 ? exp2m1(a, cw, r)
      : modrm === 0xFA ? sqrt(a, this.precision(), this.rc(), cw, r)
      : roundInt(a, this.rc(), r);
    if (this.commit(f, false)) this.store(0, r);
  }

  /** ST(1) := f(ST(1), ST(0)), then pop: fyl2x (F1), fpatan (F3), fyl2xp1 (F9). */
  private binaryPop(modrm: number): void {
    if (this.underflow2(0, 1)) {
      if (!this.masked(IE)) return;
      this.storeIndefinite(1);
      this.pop();
      return;
    }
    const y = this.a, x = this.b, r = this.r, cw = this.cw;
    this.load(1, y); this.load(0, x);
    const f = modrm === 0xF3 ? atan2(y, x, cw, r) : ylog2x(y, x, modrm === 0xF9, cw, r);
    if (!this.commit(f, false)) return;
    this.store(1, r);
    this.pop();
  }

  /**
   * Stack faults of the instructions that replace ST(0) and push a second
   * result (fptan, fsincos, fxtract): an empty ST(0) or a full ST(7). The
   * masked response is the indefinite in both results.
   */
  private splitFault(): boolean {
    const under = this.isEmpty(0), over = !this.isEmpty(7);
    if (!under && !over) return false;
    this.setC1(!under);
    this.raise(IE | SF);
    if (this.masked(IE)) {
      this.storeIndefinite(0);
      this.top = (this.top - 1) & 7;
      this.storeIndefinite(0);
    }
    return true;
  }

  /** True (with C2 set) when ST(0) is finite and beyond the +-2^63 range of fsin & co. */
  private outOfRange(a: Num): boolean {
    if (a.cls === FINITE && a.e >= 63) { this.sw |= SW_C2; return true; }
    this.sw &= ~SW_C2;
    return false;
  }

  private trigInPlace(fn: number): void {
    this.sw &= ~SW_C2;
    if (this.underflow(0)) { if (this.masked(IE)) this.storeIndefinite(0); return; }
    this.load(0, this.a);
    if (this.outOfRange(this.a)) return;
    if (this.commit(trig(fn, this.a, this.cw, this.r), false)) this.store(0, this.r);
  }

  /** fptan (fn 2: tan, then push 1.0) and fsincos (fn 1: sin, then push cos). */
  private trigPush(fn: number): void {
    this.sw &= ~SW_C2;
    if (this.splitFault()) return;
    this.load(0, this.a);
    if (this.outOfRange(this.a)) return;
    const r = this.r, r2 = this.r2;
    let f = trig(fn === 2 ? 2 : 0, this.a, this.cw, r);
    if (fn === 2) {
      if (r.isNaN()) r2.copy(r); else { r2.setZero(0); r2.cls = FINITE; r2.hi = 0x80000000; }
    } else {
      // C1 says how the cosine (the pushed result) was rounded (measured).
      const g = trig(1, this.a, this.cw, r2);
      f = (f & ~C1) | g;
    }
    if (!this.commit(f, false)) return;
    this.store(0, r);
    this.push(r2);
  }

  private fxtract(): void {
    if (this.splitFault()) return;
    const a = this.a, r = this.r, r2 = this.r2;
    this.load(0, a);
    let f = a.den ? DE : 0;
    switch (a.cls) {
      case BAD: f |= IE; r.setIndefinite(); r2.setIndefinite(); break;
      case QNAN: case SNAN: f |= propagateQuiet(a, r); r2.copy(r); break;
      case INF: r.setInf(0); r2.copy(a); break;
      case ZERO: f |= ZE; r.setInf(1); r2.copy(a); break;
      default:
        unpackInt(a.e < 0, 0, Math.abs(a.e), r);   // the exponent, exact
        r2.copy(a); r2.e = 0; r2.den = false;          // the significand in [1, 2)
    }
    if (!this.commit(f, false)) return;
    this.store(0, r);
    this.push(r2);
  }

  private fprem(nearest: boolean): void {
    this.sw &= ~SW_C2;
    if (this.underflow2(0, 1)) {
      if (!this.masked(IE)) return;
      this.storeIndefinite(0);
      return;
    }
    this.load(0, this.a); this.load(1, this.b);
    const f = remainder(this.a, this.b, nearest, this.rc(), this.cw, this.r);
    if (!this.commit(f, false)) return;
    this.store(0, this.r);
    // Without a quotient (NaN, invalid) C0 and C3 keep their values.
    if (remPartial) this.setCC(false, true, false, false);
    else if (remQuot >= 0) this.setCC((remQuot & 2) !== 0, false, (remQuot & 1) !== 0, (remQuot & 4) !== 0);
  }

  private fscale(): void {
    if (this.underflow2(0, 1)) { if (this.masked(IE)) this.storeIndefinite(0); return; }
    this.load(0, this.a); this.load(1, this.b);
    if (this.commit(scale(this.a, this.b, this.rc(), this.cw, this.r), false)) this.store(0, this.r);
  }

  private fxam(): void {
    const p = this.phys(0);
    const sign = (this.se[p] & 0x8000) !== 0;
    if (this.isEmpty(0)) { this.setCC(true, false, sign, true); return; }
    this.load(0, this.a);
    switch (this.a.cls) {
      case BAD: this.setCC(false, false, sign, false); break;
      case QNAN: case SNAN: this.setCC(false, false, sign, true); break;
      case INF: this.setCC(false, true, sign, true); break;
      case ZERO: this.setCC(true, false, sign, false); break;
      default: this.setCC(this.a.den, true, sign, false);
    }
  }
}

/** A single NaN operand: quieted, IE if it was signalling. */
function propagateQuiet(a: Num, out: Num): number {
  out.copy(a); out.cls = QNAN; out.hi = (out.hi | 0x40000000) >>> 0;
  return a.cls === SNAN ? IE : 0;
}

function loadInt32(v: number, out: Num): void {
  v |= 0;
  if (v === 0) out.setZero(0);
  else unpackInt(v < 0, 0, Math.abs(v), out);
}

function hex(v: number): string { return v.toString(16).toUpperCase().padStart(2, '0'); }

function put16(m: Uint8Array, o: number, v: number): void { m[o] = v; m[o + 1] = v >> 8; }
function put32(m: Uint8Array, o: number, v: number): void {
  m[o] = v; m[o + 1] = v >> 8; m[o + 2] = v >> 16; m[o + 3] = v >>> 24;
}
function get16(m: Uint8Array, o: number): number { return m[o] | (m[o + 1] << 8); }
function get32(m: Uint8Array, o: number): number {
  return (m[o] | (m[o + 1] << 8) | (m[o + 2] << 16) | (m[o + 3] << 24)) >>> 0;
}

