import { L } from '../alu';
import { EA, M, R, STRIDE } from '../decoder';
import { H } from '../handler-ids';
import { S } from '../state';
import { Code, FuncType, moduleBytes, Op, T } from './encoder';

/**
 * The region compiler: the decoded blocks of one physical code page become
 * one WebAssembly function.
 *
 *   run(entry, eipBase, budget) -> instructions retired
 *
 * `entry` is the index of the block to start at, `eipBase` the EIP of the
 * page's first byte (EIP = eipBase + page offset, as CS is flat), `budget`
 * how many instructions may retire before the region returns. Inside, a loop
 * around a br_table over the blocks joins them: a direct branch to a block
 * of the region is a wasm branch, anything else leaves with EIP stored in
 * the state block (state.ts).
 *
 * Guest registers and the lazy flags (alu.ts) are wasm locals. They are
 * written back ("spilled") at every exit and before every call to a JS
 * helper, so a helper that faults leaves the state exactly as it was before
 * the faulting instruction: each instruction does its loads and stores
 * before it changes a register or a flag. Memory goes through the TLB in the
 * state block inline (one load, a compare, the access); a miss, an access
 * across a page, a segment limit or an MMIO page calls a helper.
 *
 * Only 32-bit code with 32-bit addressing is compiled, and only the forms
 * below; a block reaching any other instruction leaves the region there and
 * the interpreter runs it.
 */

/** The helpers a region imports, in function-index order. */
export const enum Imp {
  /** rd(lin, size, eipOffset, retired) -> value */
  RD = 0,
  /** wr(lin, size, value, eipOffset, retired) */
  WR = 1,
  /** seg(seg, offset, size | write << 4, eipOffset, retired) -> linear address, or fault */
  SEG = 2,
  /** cond(cc) -> 0/1, from the spilled lazy flags */
  COND = 3,
  /** cf() -> CF, from the spilled lazy flags */
  CF = 4,
  /** flags() -> EFLAGS, from the spilled lazy flags */
  FLAGS = 5,
  COUNT = 6,
}

const I = T.I32;
const IMPORTS: { name: string; type: FuncType }[] = [
  { name: 'rd', type: { params: [I, I, I, I], results: [I] } },
  { name: 'wr', type: { params: [I, I, I, I, I], results: [] } },
  { name: 'seg', type: { params: [I, I, I, I, I], results: [I] } },
  { name: 'cond', type: { params: [I], results: [I] } },
  { name: 'cf', type: { params: [], results: [I] } },
  { name: 'flags', type: { params: [], results: [I] } },
];
const RUN: FuncType = { params: [I, I, I], results: [I] };
/** The module's own spill function: the registers and lazy flags as parameters. */
const SPILL_FN = Imp.COUNT + 1;
const SPILLED = 14;
const SPILL: FuncType = { params: new Array<T>(SPILLED).fill(I), results: [] };

// Locals: the parameters, then ours.
const ENTRY = 0;
const EIPBASE = 1;
const BUDGET = 2;
const REG = 3; // 3..10: EAX..EDI
const LOP = 11;
const LRES = 12;
const LA = 13;
const LB = 14;
const LC = 15;
const NEXT = 16;
const COUNT = 17;
const LIN = 18;
const E = 19;
const RTAB = 20;
const WTAB = 21;
const T0 = 22;
const T1 = 23;
const V = 24;
const T2 = 25;
const CFT = 26;
const P64 = 27;
const Q64 = 28;
const CNT = 29;
/** EFLAGS as last materialized (its arithmetic bits count while LOP is L.NONE). */
const FL = 30;
const LOCALS: T[] = [...new Array<T>(P64 - 3).fill(I), T.I64, T.I64, I, I];

/** Lazy-flag locals in the order of their state slots. */
const LAZY: [number, number][] = [[LOP, S.LOP], [LRES, S.LRES], [LA, S.LA], [LB, S.LB], [LC, S.LC], [FL, S.FLAGS]];

const ARITH = 0x8d5;
const MASKS = [0xff, 0xffff, -1];
/** Handlers compiled with a 16-bit operand too. */
const O16_FORMS = new Set<number>([H.MOV_GvEv, H.MOV_EvGv, H.MOV_EvI, H.ALU_EvGv, H.ALU_EvI, H.ALU_GvEv, H.TEST_EvGv, H.TEST_EvI]);

/** A block of the page, as the block cache decoded it. */
export interface RegionBlock {
  /** Page offset of its first byte. */
  offset: number;
  /** Its records in the block cache's code array. */
  start: number;
  end: number;
}

export interface CompiledRegion {
  module: WebAssembly.Module;
  /** Bytes of wasm it took. */
  size: number;
}

const UNKNOWN = -1;

class RegionWriter {
  private readonly c = new Code();
  /** Labels between the current position and the dispatch loop. */
  private depth = 0;
  /** The lazy-flag operation the code emitted so far in this block leaves, or UNKNOWN. */
  private lop = UNKNOWN;
  /** The block being emitted: its first record and its length. */
  private bStart = 0;
  private bN = 0;
  private readonly index = new Map<number, number>();

  constructor(
    private readonly code: Int32Array,
    private readonly blocks: RegionBlock[],
    private readonly st: number,
  ) {
    blocks.forEach((b, i) => this.index.set(b.offset, i));
  }

  // ---- state and exits ------------------------------------------------------

  private load(slot: number): void {
    this.c.i32(0);
    this.c.mem(Op.I32Load, this.st + slot);
  }

  /**
   * Write the registers and lazy flags back to the state block. One call of
   * the module's spill function: it sits on every slow path and exit, and
   * inline stores there would make regions several times larger.
   */
  private spill(): void {
    const c = this.c;
    for (let r = 0; r < 8; r++) c.get(REG + r);
    for (const [l] of LAZY) c.get(l);
    c.call(SPILL_FN);
  }

  /** The body of the spill function. */
  private spillBody(): Code {
    const c = new Code();
    for (let r = 0; r < 8; r++) {
      c.i32(0);
      c.get(r);
      c.mem(Op.I32Store, this.st + S.REGS + 4 * r);
    }
    LAZY.forEach(([, slot], i) => {
      c.i32(0);
      c.get(8 + i);
      c.mem(Op.I32Store, this.st + slot);
    });
    return c;
  }

  /** Push `count + k`: instructions retired before the k-th of this block. */
  private retired(k: number): void {
    this.c.get(COUNT);
    if (k !== 0) {
      this.c.i32(k);
      this.c.op(Op.I32Add);
    }
  }

  /** Leave the region at page offset `off` (or at the EIP in local `eipLocal`), k instructions into the block. */
  private exit(off: number, k: number, eipLocal = -1): void {
    const c = this.c;
    this.spill();
    c.i32(0);
    if (eipLocal >= 0) {
      c.get(eipLocal);
    } else {
      c.get(EIPBASE);
      c.i32(off);
      c.op(Op.I32Add);
    }
    c.mem(Op.I32Store, this.st + S.EIP);
    this.retired(k);
    c.op(Op.Return);
  }

  /** Continue at page offset `off` after k instructions: a branch if a block of the region starts there. */
  private goTo(off: number, k: number): void {
    const target = this.index.get(off);
    if (target === undefined) {
      this.exit(off, k);
      return;
    }
    const c = this.c;
    c.get(COUNT);
    c.i32(k);
    c.op(Op.I32Add);
    c.set(COUNT);
    c.i32(target);
    c.set(NEXT);
    c.br(this.depth);
  }

  private ifBegin(type: T = T.Void): void {
    this.c.begin(Op.If, type);
    this.depth++;
  }

  private ifElse(): void {
    this.c.op(Op.Else);
  }

  private ifEnd(): void {
    this.c.op(Op.End);
    this.depth--;
  }

  // ---- operands ---------------------------------------------------------------

  private reg(r: number): void {
    this.c.get(REG + r);
  }

  private reg8(r: number): void {
    const c = this.c;
    if (r < 4) {
      c.get(REG + r);
      c.i32(0xff);
    } else {
      c.get(REG + r - 4);
      c.i32(8);
      c.op(Op.I32ShrU);
      c.i32(0xff);
    }
    c.op(Op.I32And);
  }

  /** Set byte register r from local `from` (low 8 bits). */
  private setReg8(r: number, from: number): void {
    const c = this.c;
    const l = REG + (r & 3);
    c.get(l);
    c.i32(r < 4 ? ~0xff : ~0xff00);
    c.op(Op.I32And);
    c.get(from);
    c.i32(0xff);
    c.op(Op.I32And);
    if (r >= 4) {
      c.i32(8);
      c.op(Op.I32Shl);
    }
    c.op(Op.I32Or);
    c.set(l);
  }

  /** Push register r of size code sc (0 byte, 1 word, 2 dword), zero-extended. */
  private regSized(r: number, sc: number): void {
    if (sc === 0) this.reg8(r);
    else {
      this.reg(r);
      if (sc === 1) {
        this.c.i32(0xffff);
        this.c.op(Op.I32And);
      }
    }
  }

  /** Set register r of size code sc from local `from`. */
  private setRegSized(r: number, sc: number, from: number): void {
    if (sc === 0) this.setReg8(r, from);
    else if (sc === 1) this.setReg16(r, from);
    else {
      this.c.get(from);
      this.c.set(REG + r);
    }
  }

  /** Set the low 16 bits of register r from local `from`. */
  private setReg16(r: number, from: number): void {
    const c = this.c;
    c.get(REG + r);
    c.i32(~0xffff);
    c.op(Op.I32And);
    c.get(from);
    c.i32(0xffff);
    c.op(Op.I32And);
    c.op(Op.I32Or);
    c.set(REG + r);
  }

  /** Push the record's effective address (segment offset). */
  private ea(p: number): void {
    const c = this.c;
    const e = this.code[p + R.EA];
    c.i32(this.code[p + R.DISP]);
    const base = e & 15;
    const index = (e >> 4) & 15;
    if (base !== EA.NONE) {
      c.get(REG + base);
      c.op(Op.I32Add);
    }
    if (index !== EA.NONE) {
      c.get(REG + index);
      if ((e >> 8) & 3) {
        c.i32((e >> 8) & 3);
        c.op(Op.I32Shl);
      }
      c.op(Op.I32Add);
    }
  }

  /** LIN = linear address of a `size`-byte access at the offset on the stack, limit-checked. */
  private linear(seg: number, size: number, write: boolean, off: number, k: number): void {
    const c = this.c;
    c.set(T0);
    c.get(T0);
    c.op(Op.F64ConvertI32U);
    c.f64c(size - 1);
    c.op(Op.F64Add);
    c.i32(0);
    c.mem(Op.F64Load, this.st + (write ? S.SEG_WLIM : S.SEG_RLIM) + 8 * seg);
    c.op(Op.F64Le);
    this.ifBegin(T.I32);
    c.i32(0);
    c.mem(Op.I32Load, this.st + S.SEG_BASE + 4 * seg);
    c.get(T0);
    c.op(Op.I32Add);
    this.ifElse();
    this.spill();
    c.i32(seg);
    c.get(T0);
    c.i32(size | (write ? 16 : 0));
    c.i32(off);
    this.retired(k);
    c.call(Imp.SEG);
    this.ifEnd();
    c.set(LIN);
  }

  /** LIN for the record's memory operand. */
  private memOperand(p: number, size: number, write: boolean, off: number, k: number): void {
    this.ea(p);
    this.linear((this.code[p + R.EA] >> 12) & 7, size, write, off, k);
  }

  /**
   * Push the memory operand of a read-modify-write, leaving LIN for the
   * store: a writable data segment is readable, so the write check covers both.
   */
  private readForUpdate(p: number, size: number, off: number, k: number): void {
    this.memOperand(p, size, true, off, k);
    this.read(size, off, k);
  }

  /** TLB hit test for LIN in the table whose address is in local `tab`; leaves E set. */
  private tlbHit(tab: number, size: number): void {
    const c = this.c;
    c.get(LIN);
    c.i32(12);
    c.op(Op.I32ShrU);
    c.i32(2);
    c.op(Op.I32Shl);
    c.get(tab);
    c.op(Op.I32Add);
    c.mem(Op.I32Load, 0);
    c.tee(E);
    c.i32(-1);
    c.op(Op.I32Ne);
    if (size > 1) {
      c.get(LIN);
      c.i32(0xfff);
      c.op(Op.I32And);
      c.i32(0x1000 - size);
      c.op(Op.I32LeU);
      c.op(Op.I32And);
    }
  }

  /** Push the `size`-byte value at LIN (zero-extended). */
  private read(size: number, off: number, k: number): void {
    const c = this.c;
    this.tlbHit(RTAB, size);
    this.ifBegin(T.I32);
    c.get(E);
    c.get(LIN);
    c.op(Op.I32Xor);
    c.mem(size === 4 ? Op.I32Load : size === 2 ? Op.I32Load16U : Op.I32Load8U, 0);
    this.ifElse();
    this.spill();
    c.get(LIN);
    c.i32(size);
    c.i32(off);
    this.retired(k);
    c.call(Imp.RD);
    this.ifEnd();
  }

  /** Store local V's low `size` bytes at LIN. */
  private write(size: number, off: number, k: number): void {
    const c = this.c;
    this.tlbHit(WTAB, size);
    this.ifBegin();
    c.get(E);
    c.get(LIN);
    c.op(Op.I32Xor);
    c.get(V);
    c.mem(size === 4 ? Op.I32Store : size === 2 ? Op.I32Store16 : Op.I32Store8, 0);
    this.ifElse();
    this.spill();
    c.get(LIN);
    c.i32(size);
    c.get(V);
    c.i32(off);
    this.retired(k);
    c.call(Imp.WR);
    this.ifEnd();
  }

  /** After an instruction that wrote memory: leave if the write hit this region's page. */
  private stopCheck(next: number, k: number): void {
    this.load(S.STOP);
    this.ifBegin();
    this.exit(next, k + 1);
    this.ifEnd();
  }

  /** Push the E operand (register or memory) of `size` bytes. */
  private readE(p: number, m: number, size: number, off: number, k: number): void {
    if (m & M.MEM) {
      this.memOperand(p, size, false, off, k);
      this.read(size, off, k);
    } else if (size === 4) {
      this.reg((m >> 3) & 7);
    } else if (size === 1) {
      this.reg8((m >> 3) & 7);
    } else {
      this.reg((m >> 3) & 7);
      this.c.i32(0xffff);
      this.c.op(Op.I32And);
    }
  }

  // ---- flags ---------------------------------------------------------------------

  private setLazy(lop: number, a: number, b: number, res: number): void {
    const c = this.c;
    if (a >= 0) {
      c.get(a);
      c.set(LA);
    }
    if (b >= 0) {
      c.get(b);
      c.set(LB);
    }
    c.get(res);
    c.set(LRES);
    c.i32(lop);
    c.set(LOP);
    this.lop = lop;
  }

  /** Push CF of the current lazy state. */
  private cf(): void {
    const c = this.c;
    switch (this.lop) {
      case L.SUB | 2: case L.SUB | 1: case L.SUB | 0:
        c.get(LA);
        c.get(LB);
        c.op(Op.I32LtU);
        return;
      case L.ADD | 2: case L.ADD | 1: case L.ADD | 0:
        c.get(LRES);
        c.get(LA);
        c.op(Op.I32LtU);
        return;
      case L.LOGIC | 0: case L.LOGIC | 1: case L.LOGIC | 2:
        c.i32(0);
        return;
      case L.INC | 2: case L.DEC | 2: case L.RES | 2:
        c.get(LC);
        return;
      case L.NONE:
        c.get(FL);
        c.i32(1);
        c.op(Op.I32And);
        return;
      default:
        this.spill();
        c.call(Imp.CF);
    }
  }

  private sign(size: number): void {
    const c = this.c;
    c.get(LRES);
    if (size === 2) {
      c.i32(0);
      c.op(Op.I32LtS);
    } else {
      c.i32(size === 0 ? 7 : 15);
      c.op(Op.I32ShrU);
      c.i32(1);
      c.op(Op.I32And);
    }
  }

  private zero(): void {
    this.c.get(LRES);
    this.c.op(Op.I32Eqz);
  }

  /** Push condition `cc` (0/1) of the current lazy state. */
  private cond(cc: number): void {
    const c = this.c;
    const op = this.lop;
    const k = cc >> 1;
    let done = true;
    if (op === L.NONE) {
      this.flagCond(k);
    } else if (op === (L.SUB | 2) && k !== 5) {
      switch (k) {
        case 0:
          c.get(LA); c.get(LB); c.op(Op.I32Xor); c.get(LA); c.get(LRES); c.op(Op.I32Xor); c.op(Op.I32And);
          c.i32(0); c.op(Op.I32LtS);
          break;
        case 1: c.get(LA); c.get(LB); c.op(Op.I32LtU); break;
        case 2: this.zero(); break;
        case 3: c.get(LA); c.get(LB); c.op(Op.I32LeU); break;
        case 4: this.sign(2); break;
        case 6: c.get(LA); c.get(LB); c.op(Op.I32LtS); break;
        default: c.get(LA); c.get(LB); c.op(Op.I32LeS); break;
      }
    } else if ((op === (L.SUB | 0) || op === (L.SUB | 1)) && (k === 1 || k === 2 || k === 3 || k === 4)) {
      if (k === 2) this.zero();
      else if (k === 4) this.sign(op & 3);
      else {
        c.get(LA);
        c.get(LB);
        c.op(k === 1 ? Op.I32LtU : Op.I32LeU);
      }
    } else if (op >= 0 && (op & ~3) === L.LOGIC && k !== 5) {
      switch (k) {
        case 0: case 1: c.i32(0); break;
        case 2: case 3: this.zero(); break;
        case 4: case 6: this.sign(op & 3); break;
        default: this.zero(); this.sign(op & 3); c.op(Op.I32Or); break;
      }
    } else if (op >= 0 && (k === 2 || k === 4)) {
      if (k === 2) this.zero();
      else this.sign(op & 3);
    } else if ((op === (L.ADD | 2) || op === (L.RES | 2) || op === (L.INC | 2) || op === (L.DEC | 2)) && (k === 1 || k === 3)) {
      this.cf();
      if (k === 3) {
        this.zero();
        c.op(Op.I32Or);
      }
    } else {
      done = false;
    }
    if (!done) {
      this.spill();
      c.i32(cc);
      c.call(Imp.COND);
      return;
    }
    if (cc & 1) c.op(Op.I32Eqz);
  }

  /** Push bit `bit` of FL (0/1). */
  private flBit(bit: number): void {
    const c = this.c;
    c.get(FL);
    c.i32(bit);
    c.op(Op.I32ShrU);
    c.i32(1);
    c.op(Op.I32And);
  }

  /** Condition `k` (cc >> 1) from the materialized flags in FL. */
  private flagCond(k: number): void {
    const c = this.c;
    switch (k) {
      case 0: this.flBit(11); break;
      case 1: this.flBit(0); break;
      case 2: this.flBit(6); break;
      case 3: this.flBit(0); this.flBit(6); c.op(Op.I32Or); break;
      case 4: this.flBit(7); break;
      case 5: this.flBit(2); break;
      case 6: this.flBit(7); this.flBit(11); c.op(Op.I32Ne); break;
      default: this.flBit(6); this.flBit(7); this.flBit(11); c.op(Op.I32Ne); c.op(Op.I32Or); break;
    }
  }

  /**
   * Fold the lazy flags into FL and set LOP to L.NONE, before an instruction
   * that changes only some flags. Inline for the operations the region left
   * itself; otherwise the JS helper computes them from the spilled state.
   */
  private materialize(): void {
    const c = this.c;
    const op = this.lop;
    if (op === L.NONE) return;
    const kind = op & ~3;
    const size = op & 3;
    const inline = kind === L.ADD || kind === L.SUB || kind === L.LOGIC || op === (L.RES | 2) || op === (L.INC | 2) || op === (L.DEC | 2);
    if (!inline) {
      this.spill();
      c.call(Imp.FLAGS);
      c.set(FL);
    } else {
      c.get(FL);
      c.i32(~ARITH);
      c.op(Op.I32And);
      this.cf();
      c.op(Op.I32Or);
      // PF: an even number of ones in the low byte.
      c.get(LRES);
      c.i32(0xff);
      c.op(Op.I32And);
      c.op(Op.I32Popcnt);
      c.i32(1);
      c.op(Op.I32And);
      c.op(Op.I32Eqz);
      c.i32(2);
      c.op(Op.I32Shl);
      c.op(Op.I32Or);
      if (kind !== L.LOGIC && kind !== L.RES) {
        // AF: the carry out of bit 3.
        c.get(LA);
        c.get(LB);
        c.op(Op.I32Xor);
        c.get(LRES);
        c.op(Op.I32Xor);
        c.i32(0x10);
        c.op(Op.I32And);
        c.op(Op.I32Or);
      }
      this.zero();
      c.i32(6);
      c.op(Op.I32Shl);
      c.op(Op.I32Or);
      this.sign(size);
      c.i32(7);
      c.op(Op.I32Shl);
      c.op(Op.I32Or);
      if (kind !== L.LOGIC) {
        if (kind === L.RES) {
          c.get(LB);
        } else {
          const add = kind === L.ADD || kind === L.INC;
          // add: (a ^ r) & (b ^ r); sub: (a ^ b) & (a ^ r); the sign bit of it.
          c.get(LA);
          c.get(add ? LRES : LB);
          c.op(Op.I32Xor);
          c.get(add ? LB : LA);
          c.get(LRES);
          c.op(Op.I32Xor);
          c.op(Op.I32And);
          c.i32(size === 0 ? 7 : size === 1 ? 15 : 31);
          c.op(Op.I32ShrU);
          c.i32(1);
          c.op(Op.I32And);
        }
        c.i32(11);
        c.op(Op.I32Shl);
        c.op(Op.I32Or);
      }
      c.set(FL);
    }
    c.i32(L.NONE);
    c.set(LOP);
    this.lop = L.NONE;
  }

  /** rol or ror of local `r` by local CNT (1-31): CF and OF change, the other flags stay. */
  private rotate(kind: number, r: number): void {
    const c = this.c;
    this.materialize();
    c.get(r);
    c.get(CNT);
    c.op(kind === 0 ? Op.I32Rotl : Op.I32Rotr);
    c.tee(V);
    c.set(r);
    // rol: CF = bit 0, OF = bit 31 ^ CF; ror: CF = bit 31, OF = bit 31 ^ bit 30.
    c.get(V);
    c.i32(kind === 0 ? 0 : 31);
    c.op(Op.I32ShrU);
    c.i32(1);
    c.op(Op.I32And);
    c.set(T1);
    c.get(FL);
    c.i32(~0x801);
    c.op(Op.I32And);
    c.get(T1);
    c.op(Op.I32Or);
    c.get(V);
    c.i32(31);
    c.op(Op.I32ShrU);
    c.get(V);
    c.i32(kind === 0 ? 0 : 30);
    c.op(Op.I32ShrU);
    c.i32(1);
    c.op(Op.I32And);
    c.op(Op.I32Xor);
    c.i32(11);
    c.op(Op.I32Shl);
    c.op(Op.I32Or);
    c.set(FL);
  }

  // ---- instructions ---------------------------------------------------------------

  /**
   * ALU operation `kind` on A (local T1) and B (on the stack), `size` 0 or 2:
   * B goes to T2 and the result to V. The flags are set apart (aluFlags), after
   * any store of the result: a store that faults must find them untouched.
   * adc/sbb are not compiled.
   */
  private alu(kind: number, size: number): void {
    const c = this.c;
    c.set(T2);
    if (kind === 2 || kind === 3) {
      // adc, sbb: the carry in comes from the flags before them.
      this.cf();
      c.set(CFT);
    }
    const ops = [Op.I32Add, Op.I32Or, Op.I32Add, Op.I32Sub, Op.I32And, Op.I32Sub, Op.I32Xor, Op.I32Sub];
    c.get(T1);
    c.get(T2);
    c.op(ops[kind]);
    if (kind === 2 || kind === 3) {
      c.get(CFT);
      c.op(ops[kind]);
    }
    if (size !== 2) {
      c.i32(MASKS[size]);
      c.op(Op.I32And);
    }
    c.set(V);
  }

  private aluFlags(kind: number, size: number): void {
    const lops = [L.ADD, L.LOGIC, L.ADC, L.SBB, L.LOGIC, L.SUB, L.LOGIC, L.SUB];
    if (kind === 2 || kind === 3) {
      this.c.get(CFT);
      this.c.set(LC);
    }
    this.setLazy(lops[kind] | size, T1, T2, V);
  }

  /**
   * Whether the arithmetic flags record k of a block leaves are dead: a later
   * instruction of the block sets them all before anything reads them, and
   * nothing in between can fault (a fault hands EFLAGS to its handler).
   */
  private flagsDead(start: number, n: number, k: number): boolean {
    const code = this.code;
    for (let j = k + 1; j < n; j++) {
      const p = start + j * STRIDE;
      const h = code[p + R.H];
      const m = code[p + R.M];
      if (m & (M.MEM | M.O16)) return false;
      const kind = (m >> M.KIND_SHIFT) & 15;
      switch (h) {
        case H.ALU_EvGv: case H.ALU_EvI: case H.ALU_GvEv:
          if (kind === 2 || kind === 3) return false;
          return true;
        case H.TEST_EvGv: case H.TEST_EvI:
          return true;
        case H.SHIFT_EvI:
          if ((kind === 4 || kind === 5 || kind === 7) && (code[p + R.IMM] & 31) !== 0) return true;
          if (kind === 0 || kind === 1) continue;
          return false;
        case H.MOV_GvEv: case H.MOV_EvGv: case H.MOV_EvI: case H.LEA: case H.XCHG_AX: case H.NOT_Ev: case H.BSWAP:
        case H.MOVZX_Eb: case H.MOVZX_Ew: case H.MOVSX_Eb: case H.MOVSX_Ew: case H.NOP: case H.CWD: case H.CBW:
          continue;
        default:
          return false;
      }
    }
    return false;
  }

  /** Emit instruction k of the block (record p); false if it is not compiled. */
  private insn(p: number, k: number, blockOff: number, last: boolean): boolean {
    const code = this.code;
    const c = this.c;
    const h = code[p + R.H];
    const m = code[p + R.M];
    const offs = code[p + R.OFFS];
    const off = blockOff + (offs & 0xffff);
    const next = blockOff + (offs >>> 16);
    const imm = code[p + R.IMM];
    const g = m & 7;
    const rm = (m >> 3) & 7;
    const kind = (m >> M.KIND_SHIFT) & 15;
    const mem = (m & M.MEM) !== 0;
    const o16 = (m & M.O16) !== 0;
    if (h === H.NOP) return true;
    if ((m & M.A16) || (o16 && !O16_FORMS.has(h))) return false;
    if (mem && (code[p + R.EA] & EA.A16)) return false;
    switch (h) {
      case H.MOV_GvEv:
        this.readE(p, m, o16 ? 2 : 4, off, k);
        if (o16) {
          c.set(V);
          this.setReg16(g, V);
        } else {
          c.set(REG + g);
        }
        return true;
      case H.MOV_EvGv: case H.MOV_EvI:
        if (h === H.MOV_EvGv) this.reg(g);
        else c.i32(imm);
        c.set(V);
        if (!mem) {
          if (o16) this.setReg16(rm, V);
          else {
            c.get(V);
            c.set(REG + rm);
          }
          return true;
        }
        this.memOperand(p, o16 ? 2 : 4, true, off, k);
        this.write(o16 ? 2 : 4, off, k);
        if (!last) this.stopCheck(next, k);
        return true;
      case H.MOV_GbEb:
        this.readE(p, m, 1, off, k);
        c.set(V);
        this.setReg8(g, V);
        return true;
      case H.MOV_EbGb: case H.MOV_EbI:
        if (h === H.MOV_EbGb) this.reg8(g);
        else c.i32(imm & 0xff);
        c.set(V);
        if (!mem) {
          this.setReg8(rm, V);
          return true;
        }
        this.memOperand(p, 1, true, off, k);
        this.write(1, off, k);
        if (!last) this.stopCheck(next, k);
        return true;
      case H.LEA:
        this.ea(p);
        c.set(REG + g);
        return true;
      case H.MOVZX_Eb: case H.MOVSX_Eb:
        this.readE(p, m, 1, off, k);
        if (h === H.MOVSX_Eb) c.op(Op.I32Extend8S);
        c.set(REG + g);
        return true;
      case H.MOVZX_Ew: case H.MOVSX_Ew:
        this.readE(p, m, 2, off, k);
        if (h === H.MOVSX_Ew) c.op(Op.I32Extend16S);
        c.set(REG + g);
        return true;
      case H.XCHG_AX:
        this.reg(0);
        c.set(T0);
        this.reg(rm);
        c.set(REG);
        c.get(T0);
        c.set(REG + rm);
        return true;
      case H.ALU_EvGv: case H.ALU_EvI: case H.ALU_EbGb: case H.ALU_EbI: {
        const byte = h === H.ALU_EbGb || h === H.ALU_EbI;
        const sc = byte ? 0 : o16 ? 1 : 2;
        const size = 1 << sc;
        const store = mem && kind !== 7;
        if (store) {
          this.readForUpdate(p, size, off, k);
        } else {
          this.readE(p, m, size, off, k);
        }
        c.set(T1);
        if (h === H.ALU_EvGv) this.regSized(g, sc);
        else if (h === H.ALU_EbGb) this.reg8(g);
        else c.i32(imm & MASKS[sc]);
        this.alu(kind, sc);
        if (store) this.write(size, off, k);
        else if (kind !== 7) this.setRegSized(rm, sc, V);
        this.aluFlags(kind, sc);
        if (store && !last) this.stopCheck(next, k);
        return true;
      }
      case H.ALU_GvEv: case H.ALU_GbEb: {
        const sc = h === H.ALU_GbEb ? 0 : o16 ? 1 : 2;
        this.regSized(g, sc);
        c.set(T1);
        this.readE(p, m, 1 << sc, off, k);
        this.alu(kind, sc);
        if (kind !== 7) this.setRegSized(g, sc, V);
        this.aluFlags(kind, sc);
        return true;
      }
      case H.TEST_EvGv: case H.TEST_EvI: case H.TEST_EbGb: case H.TEST_EbI: {
        const sc = h === H.TEST_EbGb || h === H.TEST_EbI ? 0 : o16 ? 1 : 2;
        this.readE(p, m, 1 << sc, off, k);
        if (h === H.TEST_EvGv || h === H.TEST_EbGb) this.regSized(g, sc);
        else c.i32(imm & MASKS[sc]);
        c.op(Op.I32And);
        c.set(V);
        this.setLazy(L.LOGIC | sc, -1, -1, V);
        return true;
      }
      case H.INC_Ev: case H.DEC_Ev: {
        if (mem) {
          this.readForUpdate(p, 4, off, k);
        } else {
          this.reg(rm);
        }
        c.set(T1);
        // inc and dec keep CF: take it from the flags before them.
        this.cf();
        c.set(CFT);
        c.get(T1);
        c.i32(1);
        c.op(h === H.INC_Ev ? Op.I32Add : Op.I32Sub);
        c.set(V);
        if (mem) this.write(4, off, k);
        else {
          c.get(V);
          c.set(REG + rm);
        }
        c.get(CFT);
        c.set(LC);
        c.i32(1);
        c.set(T2);
        this.setLazy((h === H.INC_Ev ? L.INC : L.DEC) | 2, T1, T2, V);
        if (mem && !last) this.stopCheck(next, k);
        return true;
      }
      case H.SHIFT_EvI: case H.SHIFT_EvCL: {
        if (mem) return false;
        const rotate = kind === 0 || kind === 1;
        if (!rotate && kind !== 4 && kind !== 5 && kind !== 7) return false;
        // rol and ror set CF and OF and keep the other flags: where nothing
        // can see them, the flags are not computed at all.
        const dead = rotate && this.flagsDead(this.bStart, this.bN, k);
        const byCl = h === H.SHIFT_EvCL;
        if (!byCl && (imm & 31) === 0) return true;
        if (byCl) {
          this.reg(1);
          c.i32(31);
          c.op(Op.I32And);
        } else {
          c.i32(imm & 31);
        }
        c.set(CNT);
        if (dead) {
          this.reg(rm);
          c.get(CNT);
          c.op(kind === 0 ? Op.I32Rotl : Op.I32Rotr);
          c.set(REG + rm);
          return true;
        }
        // A count of zero changes nothing, not even the flags.
        if (byCl) {
          c.get(CNT);
          this.ifBegin();
        }
        if (rotate) this.rotate(kind, REG + rm);
        else this.shift(kind, REG + rm);
        if (byCl) {
          this.ifEnd();
          this.lop = UNKNOWN;
        }
        return true;
      }
      case H.IMUL_GvEv: case H.IMUL_GvEvI: {
        this.readE(p, m, 4, off, k);
        if (h === H.IMUL_GvEv) this.reg(g);
        else c.i32(imm);
        this.multiply(true);
        c.get(V);
        c.set(REG + g);
        c.get(V);
        c.op(Op.I64ExtendI32S);
        c.get(P64);
        c.op(Op.I64Ne);
        this.productFlags();
        return true;
      }
      case H.CMOV:
        this.readE(p, m, 4, off, k);
        c.set(V);
        this.cond(kind);
        this.ifBegin();
        c.get(V);
        c.set(REG + g);
        this.ifEnd();
        return true;
      case H.SETCC:
        this.cond(kind);
        c.set(V);
        if (!mem) {
          this.setReg8(rm, V);
          return true;
        }
        this.memOperand(p, 1, true, off, k);
        this.write(1, off, k);
        if (!last) this.stopCheck(next, k);
        return true;
      case H.PUSH_R: case H.PUSH_I: case H.PUSH_Ev:
        if (h === H.PUSH_R) this.reg(rm);
        else if (h === H.PUSH_I) c.i32(imm);
        else this.readE(p, m, 4, off, k);
        c.set(V);
        this.push(off, k);
        if (!last) this.stopCheck(next, k);
        return true;
      case H.POP_R:
        this.stackTop(off, k);
        this.read(4, off, k);
        c.set(V);
        this.reg(4);
        c.i32(4);
        c.op(Op.I32Add);
        c.set(REG + 4);
        c.get(V);
        c.set(REG + rm);
        return true;
      case H.JCC: {
        this.cond(kind);
        this.ifBegin();
        this.jump(blockOff + imm, k + 1);
        this.ifEnd();
        return true;
      }
      case H.JMP_J:
        this.jump(blockOff + imm, k + 1);
        return true;
      case H.CALL_J:
        c.get(EIPBASE);
        c.i32(next);
        c.op(Op.I32Add);
        c.set(V);
        this.push(off, k);
        this.jump(blockOff + imm, k + 1);
        return true;
      case H.RET:
        this.stackTop(off, k);
        this.read(4, off, k);
        c.set(V);
        this.reg(4);
        c.i32(4);
        c.op(Op.I32Add);
        c.set(REG + 4);
        this.exit(0, k + 1, V);
        return true;
      case H.JMP_Ev:
        this.readE(p, m, 4, off, k);
        c.set(V);
        this.exit(0, k + 1, V);
        return true;
      case H.CALL_Ev:
        this.readE(p, m, 4, off, k);
        c.set(T2);
        c.get(EIPBASE);
        c.i32(next);
        c.op(Op.I32Add);
        c.set(V);
        this.push(off, k);
        this.exit(0, k + 1, T2);
        return true;
      case H.NOT_Ev: case H.NEG_Ev:
        if (mem) {
          this.readForUpdate(p, 4, off, k);
        } else {
          this.reg(rm);
        }
        c.set(T2);
        if (h === H.NOT_Ev) {
          c.get(T2);
          c.i32(-1);
          c.op(Op.I32Xor);
        } else {
          c.i32(0);
          c.get(T2);
          c.op(Op.I32Sub);
        }
        c.set(V);
        if (mem) this.write(4, off, k);
        else {
          c.get(V);
          c.set(REG + rm);
        }
        if (h === H.NEG_Ev) {
          c.i32(0);
          c.set(T1);
          this.setLazy(L.SUB | 2, T1, T2, V);
        }
        if (mem && !last) this.stopCheck(next, k);
        return true;
      case H.CWD:
        this.reg(0);
        c.i32(31);
        c.op(Op.I32ShrS);
        c.set(REG + 2);
        return true;
      case H.CBW:
        this.reg(0);
        c.op(Op.I32Extend16S);
        c.set(REG);
        return true;
      case H.BSWAP: {
        const r = REG + rm;
        // (v >>> 24) | ((v >> 8) & 0xff00) | ((v & 0xff00) << 8) | (v << 24)
        c.get(r); c.i32(24); c.op(Op.I32ShrU);
        c.get(r); c.i32(8); c.op(Op.I32ShrU); c.i32(0xff00); c.op(Op.I32And); c.op(Op.I32Or);
        c.get(r); c.i32(0xff00); c.op(Op.I32And); c.i32(8); c.op(Op.I32Shl); c.op(Op.I32Or);
        c.get(r); c.i32(24); c.op(Op.I32Shl); c.op(Op.I32Or);
        c.set(r);
        return true;
      }
      case H.XCHG_EvGv:
        if (!mem) {
          this.reg(rm);
          c.set(T0);
          this.reg(g);
          c.set(REG + rm);
          c.get(T0);
          c.set(REG + g);
          return true;
        }
        this.readForUpdate(p, 4, off, k);
        c.set(T2);
        this.reg(g);
        c.set(V);
        this.write(4, off, k);
        c.get(T2);
        c.set(REG + g);
        if (!last) this.stopCheck(next, k);
        return true;
      case H.LEAVE:
        // ESP = EBP, then pop EBP: the read first, so a fault changes nothing.
        this.reg(5);
        this.linear(2, 4, false, off, k);
        this.read(4, off, k);
        c.set(V);
        this.reg(5);
        c.i32(4);
        c.op(Op.I32Add);
        c.set(REG + 4);
        c.get(V);
        c.set(REG + 5);
        return true;
      case H.MUL_Ev: case H.IMUL_Ev: {
        this.readE(p, m, 4, off, k);
        this.reg(0);
        this.multiply(h === H.IMUL_Ev);
        c.get(V);
        c.set(REG);
        c.get(P64);
        c.i64(32);
        c.op(Op.I64ShrU);
        c.op(Op.I32WrapI64);
        c.set(REG + 2);
        // CF = OF = the high half is more than the low half's extension.
        if (h === H.MUL_Ev) {
          this.reg(2);
          c.i32(0);
          c.op(Op.I32Ne);
        } else {
          c.get(V);
          c.op(Op.I64ExtendI32S);
          c.get(P64);
          c.op(Op.I64Ne);
        }
        this.productFlags();
        return true;
      }
      case H.DIV_Ev: case H.IDIV_Ev: {
        const signed = h === H.IDIV_Ev;
        this.readE(p, m, 4, off, k);
        c.set(T2);
        this.reg(2);
        c.op(Op.I64ExtendI32U);
        c.i64(32);
        c.op(Op.I64Shl);
        this.reg(0);
        c.op(Op.I64ExtendI32U);
        c.op(Op.I64Or);
        c.set(P64);
        // A zero divisor or a quotient that does not fit is #DE, and so may
        // be idiv by -1: the interpreter runs those and raises it.
        c.get(T2);
        c.op(Op.I32Eqz);
        if (signed) {
          c.get(T2);
          c.i32(-1);
          c.op(Op.I32Eq);
          c.op(Op.I32Or);
        }
        this.ifBegin();
        this.exit(off, k);
        this.ifEnd();
        const ext = signed ? Op.I64ExtendI32S : Op.I64ExtendI32U;
        c.get(P64);
        c.get(T2);
        c.op(ext);
        c.op(signed ? Op.I64DivS : Op.I64DivU);
        c.set(Q64);
        if (signed) {
          c.get(Q64);
          c.op(Op.I32WrapI64);
          c.op(Op.I64ExtendI32S);
          c.get(Q64);
          c.op(Op.I64Ne);
        } else {
          c.get(Q64);
          c.i64(0xffffffff);
          c.op(Op.I64GtU);
        }
        this.ifBegin();
        this.exit(off, k);
        this.ifEnd();
        c.get(P64);
        c.get(T2);
        c.op(ext);
        c.op(signed ? Op.I64RemS : Op.I64RemU);
        c.op(Op.I32WrapI64);
        c.set(REG + 2);
        c.get(Q64);
        c.op(Op.I32WrapI64);
        c.set(REG);
        return true;
      }
      case H.LODSB: case H.LODSV: {
        if (m & (M.REP | M.REPNE)) return false;
        const size = h === H.LODSB ? 1 : 4;
        this.reg(6);
        this.linear((code[p + R.EA] >> 12) & 7, size, false, off, k);
        this.read(size, off, k);
        c.set(V);
        if (size === 1) this.setReg8(0, V);
        else {
          c.get(V);
          c.set(REG);
        }
        // ESI moves by the size, down when EFLAGS.DF (constant in a region: cld and std leave it).
        this.reg(6);
        c.get(FL);
        c.i32(10);
        c.op(Op.I32ShrU);
        c.i32(1);
        c.op(Op.I32And);
        c.i32(-2 * size);
        c.op(Op.I32Mul);
        c.i32(size);
        c.op(Op.I32Add);
        c.op(Op.I32Add);
        c.set(REG + 6);
        return true;
      }
      default:
        return false;
    }
  }

  /** shl, shr or sar of local `r` by local CNT (1-31), with the flags. */
  private shift(kind: number, r: number): void {
    const c = this.c;
    c.get(r);
    c.set(T1);
    // CF: the last bit shifted out.
    c.get(T1);
    if (kind === 5 || kind === 7) {
      c.get(CNT);
      c.i32(1);
      c.op(Op.I32Sub);
      c.op(kind === 5 ? Op.I32ShrU : Op.I32ShrS);
    } else {
      c.i32(32);
      c.get(CNT);
      c.op(Op.I32Sub);
      c.op(Op.I32ShrU);
    }
    c.i32(1);
    c.op(Op.I32And);
    c.set(LC);
    c.get(T1);
    c.get(CNT);
    c.op(kind === 5 ? Op.I32ShrU : kind === 7 ? Op.I32ShrS : Op.I32Shl);
    c.tee(V);
    c.set(r);
    // OF: shl = top bit of the result ^ CF; shr = top bit of the operand; sar = 0.
    if (kind === 7) c.i32(0);
    else if (kind === 5) {
      c.get(T1);
      c.i32(31);
      c.op(Op.I32ShrU);
    } else {
      c.get(V);
      c.i32(31);
      c.op(Op.I32ShrU);
      c.get(LC);
      c.op(Op.I32Xor);
    }
    c.set(LB);
    this.setLazy(L.RES | 2, -1, -1, V);
  }

  /** P64 = the product of the two values on the stack (32 bits each, signed or not), V = its low half. */
  private multiply(signed: boolean): void {
    const c = this.c;
    const ext = signed ? Op.I64ExtendI32S : Op.I64ExtendI32U;
    c.set(T2);
    c.op(ext);
    c.get(T2);
    c.op(ext);
    c.op(Op.I64Mul);
    c.tee(P64);
    c.op(Op.I32WrapI64);
    c.set(V);
  }

  /** A multiply's flags: CF = OF = the value on the stack, the other flags from the low half in V. */
  private productFlags(): void {
    const c = this.c;
    c.tee(LC);
    c.set(LB);
    this.setLazy(L.RES | 2, -1, -1, V);
  }

  /** A direct jump to page offset `target` (which may lie outside the page). */
  private jump(target: number, retired: number): void {
    if (target >= 0 && target < 0x1000) this.goTo(target, retired);
    else this.exit(target, retired);
  }

  /** LIN = SS:ESP for a 4-byte read. */
  private stackTop(off: number, k: number): void {
    this.reg(4);
    this.linear(2, 4, false, off, k);
  }

  /** Push local V (32 bits): store at SS:ESP-4, then move ESP. */
  private push(off: number, k: number): void {
    const c = this.c;
    this.reg(4);
    c.i32(4);
    c.op(Op.I32Sub);
    c.tee(T1);
    this.linear(2, 4, true, off, k);
    this.write(4, off, k);
    c.get(T1);
    c.set(REG + 4);
  }

  private block(i: number): void {
    const b = this.blocks[i];
    const c = this.c;
    this.lop = UNKNOWN;
    // Leave when the budget is spent, so interrupts and timers get their turn.
    c.get(COUNT);
    c.get(BUDGET);
    c.op(Op.I32GeS);
    this.ifBegin();
    this.exit(b.offset, 0);
    this.ifEnd();
    const n = (b.end - b.start) / STRIDE;
    this.bStart = b.start;
    this.bN = n;
    for (let k = 0; k < n; k++) {
      const p = b.start + k * STRIDE;
      const h = this.code[p + R.H];
      const endsBlock = h === H.JMP_J || h === H.CALL_J || h === H.RET || h === H.JMP_Ev || h === H.CALL_Ev;
      if (!this.insn(p, k, b.offset, k === n - 1)) {
        this.exit(b.offset + (this.code[p + R.OFFS] & 0xffff), k);
        return;
      }
      if (endsBlock) return;
    }
    const last = b.start + (n - 1) * STRIDE;
    this.goTo(b.offset + (this.code[last + R.OFFS] >>> 16), n);
  }

  build(): Uint8Array {
    const c = this.c;
    const n = this.blocks.length;
    for (let r = 0; r < 8; r++) {
      this.load(S.REGS + 4 * r);
      c.set(REG + r);
    }
    for (const [l, slot] of LAZY) {
      this.load(slot);
      c.set(l);
    }
    this.load(S.RTAB);
    c.set(RTAB);
    this.load(S.WTAB);
    c.set(WTAB);
    c.get(ENTRY);
    c.set(NEXT);
    c.begin(Op.Loop);
    for (let i = 0; i < n; i++) c.begin(Op.Block);
    c.get(NEXT);
    c.op(Op.BrTable);
    c.u32(n);
    for (let i = 0; i < n; i++) c.u32(i);
    c.u32(0);
    for (let i = 0; i < n; i++) {
      c.op(Op.End);
      this.depth = n - 1 - i;
      this.block(i);
    }
    c.op(Op.End);
    // Every block ends in a branch or a return; wasm still wants a value here.
    c.op(Op.Unreachable);
    return moduleBytes(IMPORTS, [
      { type: RUN, locals: LOCALS, body: c },
      { type: SPILL, locals: [], body: this.spillBody() },
    ]);
  }
}

/** Compile the blocks of one page (state block at wasm address `stateBase`). */
export function compileRegion(code: Int32Array, blocks: RegionBlock[], stateBase: number): CompiledRegion {
  const bytes = new RegionWriter(code, blocks, stateBase).build();
  return { module: new WebAssembly.Module(bytes), size: bytes.length };
}
