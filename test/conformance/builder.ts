/**
 * Builds one test case for one opcode-table entry: chooses the operand form,
 * lays out prefixes, opcode, ModRM/SIB/displacement and immediates from the
 * entry's operand spec (SDM appendix A notation, as in opcodes.ts), and gives
 * every register, memory operand and immediate a value. The per-instruction
 * knowledge (which registers a string op uses, what a division needs...)
 * lives in semantics.ts and drives this through the methods below.
 */
import type { OpcodeInfo } from '../../src/guest/cpu/opcodes';
import { ARITH, DF } from '../../src/guest/cpu/flags';
import { CODE_ADDR, CODE_OFFSET, CODE_PAGE_END, CODE_SIZE, SCRATCH_ADDR, SCRATCH_SIZE } from './layout';
import { Rng } from './rng';
import type { Case, Patch } from './wire';

export const EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7;

/** Scratch offsets: plain data operands live low, the stack in the middle. */
const DATA_LO = 0x100;
const DATA_HI = 0x6f00;
export const STACK_TOP = 0x8000;

/** One operand of an entry's spec: kind letter (E G M R S I J O X Y A F C D) and size letter, or a fixed register. */
export interface Operand {
  k: string;
  s: string;
  /** For fixed operands: 'AL', 'eAX', 'CL', 'DX', 'ES', '1'... */
  name?: string;
}

export function parseOperands(spec: string): Operand[] {
  if (!spec) return [];
  return spec.split(',').map((t) => {
    if (/^[A-Z][a-z]$/.test(t)) return { k: t[0], s: t[1] };
    if (t === 'M') return { k: 'M', s: '' };
    return { k: 'fixed', s: '', name: t };
  });
}

/** The shape of one case: what the prefixes select and which ModRM form. */
export interface Form {
  o16: boolean;
  a16: boolean;
  /** Memory form of the ModRM operand (false: register form or no ModRM). */
  mem: boolean;
  /** Data segments are the LDT segment based at the scratch area (required for a16 memory). */
  ldt: boolean;
  /** Extra prefixes emitted before 66/67 (rep, lock, segment overrides). */
  extra: number[];
}

const EDGE8 = [0, 1, 2, 0x0f, 0x10, 0x55, 0x7f, 0x80, 0x81, 0xaa, 0xfe, 0xff];
const EDGE16 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0x8001, 0xfffe, 0xffff];
const EDGE32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0x80000001,
  0xfffffffe, 0xffffffff];

/** Byte size of an operand-size letter. */
export function sizeOf(letter: string, o16: boolean): number {
  switch (letter) {
    case 'b': return 1;
    case 'w': return 2;
    case 'd': return 4;
    case 'q': return 8;
    case 'v': case 'z': return o16 ? 2 : 4;
    case 'a': return o16 ? 4 : 8;
    case 'p': return o16 ? 4 : 6;
    case 's': return 6;
    default: return 0;
  }
}

export function hex(v: number, digits = 2): string {
  return (v >>> 0).toString(16).padStart(digits, '0');
}

interface MemLayout {
  modrmMod: number;
  rm: number;
  sib: number | null;
  disp: number;
  dispSize: number;
}

/** Where an immediate goes and what it holds. */
interface Imm {
  kind: 'I' | 'J' | 'O' | 'A';
  size: number;
  value: number;
  /** For A (far pointer): the selector. */
  sel?: number;
}

export class Builder {
  readonly regs = new Uint32Array(8);
  eflags: number;
  readonly patches: Patch[] = [];
  /** Registers whose values the semantics fixed: never used as free address registers. */
  readonly fixed = new Set<number>();
  readonly ops: Operand[];
  /** ModRM reg field chosen by the semantics before the layout (then treated as fixed). */
  presetReg: number | null = null;
  /** A whole register-form ModRM byte, for x87 encodings that name one. */
  rawModrm: number | null = null;
  /** Registers the register form must not use as its r/m operand. */
  avoidRm: number[] = [];
  /** ModRM reg and rm fields (register numbers); rm meaningful in register form. */
  reg = 0;
  rm = 0;
  /** Scratch offset of the memory operand (memory form). */
  memOff = 0;
  /** Added to ESP when it is an address register: pop Ev computes its address after the pop. */
  espBias = 0;
  readonly imms: Imm[] = [];
  /** Flags this case leaves undefined (the entry's, refined by the semantics). */
  undef: number;
  fpu?: Uint8Array;
  readonly notes: string[] = [];
  /** Per-case scratch values shared between a semantics' hooks. */
  readonly vars: Record<string, number> = {};
  /** Bytes of the instruction to place in the first code page when straddling (0: mid-page). */
  private readonly straddle: number;
  private mem: MemLayout | null = null;
  private opcodeBytes: number[];

  constructor(readonly rng: Rng, readonly e: OpcodeInfo, readonly form: Form) {
    this.ops = parseOperands(e.operands);
    this.undef = e.flagsUndefined;
    this.eflags = rng.u32() & (ARITH | DF);
    for (let r = 0; r < 8; r++) this.regs[r] = this.value(4);
    this.regs[ESP] = this.addr(STACK_TOP - 4 * rng.int(64));
    this.opcodeBytes = e.opcode >= 0x100 ? [0x0f, e.opcode & 0xff] : [e.opcode];
    this.straddle = rng.chance(0.1) ? rng.range(1, 14) : 0;
  }

  get opBytes(): number {
    return this.form.o16 ? 2 : 4;
  }

  /** How a scratch offset is addressed through the data segments. */
  addr(off: number): number {
    return ((this.form.ldt ? 0 : SCRATCH_ADDR) + off) >>> 0;
  }

  /** An edge-biased value of `size` bytes; smaller sizes keep random upper bits in a 32-bit register. */
  value(size: number): number {
    const r = this.rng;
    const edges = size === 1 ? EDGE8 : size === 2 ? EDGE16 : EDGE32;
    const mask = size >= 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    const v = r.chance(0.5) ? r.pick(edges) : r.u32() & mask;
    return v >>> 0;
  }

  setReg(r: number, v: number): void {
    this.regs[r] = v >>> 0;
    this.fixed.add(r);
  }

  /** Sets the low `size` bytes of register r, keeping its other bits (AH..BH for size 1 and r >= 4). */
  setRegPart(r: number, size: number, v: number): void {
    if (size === 1 && r >= 4) {
      this.regs[r - 4] = (this.regs[r - 4] & ~0xff00) | ((v & 0xff) << 8);
      this.fixed.add(r - 4);
    } else if (size >= 4) {
      this.regs[r] = v >>> 0;
      this.fixed.add(r);
    } else {
      const m = (1 << (8 * size)) - 1;
      this.regs[r] = ((this.regs[r] & ~m) | (v & m)) >>> 0;
      this.fixed.add(r);
    }
  }

  getRegPart(r: number, size: number): number {
    if (size === 1 && r >= 4) return (this.regs[r - 4] >>> 8) & 0xff;
    if (size >= 4) return this.regs[r];
    return this.regs[r] & ((1 << (8 * size)) - 1);
  }

  poke(off: number, size: number, v: number): void {
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = i < 4 ? (v >>> (8 * i)) & 0xff : 0;
    this.pokeBytes(off, bytes);
  }

  pokeBytes(off: number, bytes: Uint8Array): void {
    if (off < 0 || off + bytes.length > SCRATCH_SIZE) throw new Error(`${this.e.mnemonic}: patch at ${off} outside scratch`);
    this.patches.push({ offset: off, bytes });
  }

  peek(off: number, size: number): number {
    let v = 0;
    for (let i = this.patches.length - 1; i >= 0; i--) {
      const p = this.patches[i];
      if (off >= p.offset && off + size <= p.offset + p.bytes.length) {
        for (let j = size - 1; j >= 0; j--) v = v * 256 + p.bytes[off - p.offset + j];
        return v >>> 0;
      }
    }
    throw new Error('peek: value not patched');
  }

  /** Sets the ModRM operand (register or memory) of `size` bytes. */
  setE(size: number, v: number): void {
    if (this.form.mem) this.poke(this.memOff, size, v);
    else this.setRegPart(this.rm, size, v);
  }

  getE(size: number): number {
    return this.form.mem ? this.peek(this.memOff, size) : this.getRegPart(this.rm, size);
  }

  setG(size: number, v: number): void {
    this.setRegPart(this.reg, size, v);
  }

  /** A random scratch offset for a data operand of `size` bytes, sometimes straddling a page boundary. */
  dataOffset(size: number): number {
    const r = this.rng;
    if (r.chance(0.15)) return 0x1000 * r.range(1, 6) - r.range(1, Math.max(1, size - 1));
    return r.range(DATA_LO, DATA_HI) & (r.chance(0.5) ? ~(size - 1) : ~0);
  }

  /**
   * Where the instruction starts, given its final length: mid-page, or for
   * some cases across the page boundary in the code area (fetch from two pages).
   */
  codeStart(length: number): number {
    if (this.straddle === 0 || length < 2) return CODE_ADDR + CODE_OFFSET;
    return CODE_ADDR + CODE_PAGE_END - Math.min(this.straddle, length - 1);
  }

  /** A code address for a branch target: inside the code area, outside the instruction. */
  codeTarget(length: number, lo = CODE_ADDR + 0x10, hi = CODE_ADDR + CODE_SIZE - 0x10): number {
    const start = this.codeStart(length);
    for (;;) {
      const t = this.rng.range(lo, hi);
      if (t < start || t >= start + length) return t;
    }
  }

  /**
   * Chooses the ModRM fields and, for the memory form, an addressing mode
   * whose effective address is scratch offset `off` (default: a random data
   * offset for an operand of `size` bytes).
   */
  layoutModrm(regField: number | null, size: number, off?: number): void {
    const r = this.rng;
    this.reg = regField ?? this.presetReg ?? r.int(8);
    if (!this.form.mem) {
      do this.rm = r.int(8);
      while (this.avoidRm.includes(this.rm));
      return;
    }
    this.memOff = off ?? this.dataOffset(size);
    this.mem = this.form.a16 ? this.layout16(this.addr(this.memOff)) : this.layout32(this.addr(this.memOff));
    this.poke(this.memOff, size, this.value(Math.min(size, 4)));
    if (size > 4) this.poke(this.memOff + 4, size - 4, this.value(4));
  }

  /** A register free to hold an address part, or null. */
  private freeReg(exclude: number[]): number | null {
    const cands = [0, 1, 2, 3, 4, 5, 6, 7].filter((x) => !this.fixed.has(x) && !exclude.includes(x));
    return cands.length ? this.rng.pick(cands) : null;
  }

  private layout32(target: number): MemLayout {
    const r = this.rng;
    for (;;) {
      const kind = r.int(7);
      const dispSize = kind === 3 || kind === 5 ? 4 : r.pick([0, 1, 4]);
      const mod = dispSize === 0 ? 0 : dispSize === 1 ? 1 : 2;
      const disp = dispSize === 1 ? r.range(-128, 127) : dispSize === 4 ? r.u32() | 0 : 0;
      if (kind === 3) return { modrmMod: 0, rm: 5, sib: null, disp: target, dispSize: 4 };
      if (kind <= 2) {
        // [base + disp]
        const base = this.freeReg([ESP]);
        if (base === null || (mod === 0 && base === EBP)) continue;
        this.regs[base] = (target - disp) >>> 0;
        this.fixed.add(base);
        return { modrmMod: mod, rm: base, sib: null, disp, dispSize };
      }
      // SIB forms.
      const scale = r.int(4);
      if (kind === 5) {
        const index = this.freeReg([ESP]);
        if (index === null) continue;
        const iv = r.u32();
        this.regs[index] = iv;
        this.fixed.add(index);
        const d = (target - Math.imul(iv, 1 << scale)) | 0;
        return { modrmMod: 0, rm: 4, sib: (scale << 6) | (index << 3) | 5, disp: d, dispSize: 4 };
      }
      const noIndex = kind === 6;
      // ESP as a base is common in real code: it keeps its (stack) value and the displacement absorbs it.
      const base = r.chance(0.3) ? ESP : this.freeReg([ESP]);
      if (base === null) continue;
      const index = noIndex ? 4 : this.freeReg([base, ESP]);
      if (index === null) continue;
      const iv = index === 4 ? 0 : r.chance(0.5) ? r.range(-64, 64) >>> 0 : r.u32();
      if (index !== 4) {
        this.regs[index] = iv;
        this.fixed.add(index);
      }
      const scaled = Math.imul(iv, 1 << scale);
      if (base === ESP) {
        this.fixed.add(ESP);
        const d = (target - this.regs[ESP] - this.espBias - scaled) | 0;
        return { modrmMod: 2, rm: 4, sib: (scale << 6) | (index << 3) | ESP, disp: d, dispSize: 4 };
      }
      if (mod === 0 && base === EBP) continue;
      this.regs[base] = (target - scaled - disp) >>> 0;
      this.fixed.add(base);
      return { modrmMod: mod, rm: 4, sib: (scale << 6) | (index << 3) | base, disp, dispSize };
    }
  }

  private layout16(target: number): MemLayout {
    const r = this.rng;
    // rm: 0 bx+si 1 bx+di 2 bp+si 3 bp+di 4 si 5 di 6 bp / disp16 7 bx
    const PARTS = [[EBX, ESI], [EBX, EDI], [EBP, ESI], [EBP, EDI], [ESI], [EDI], [EBP], [EBX]];
    for (;;) {
      const rm = r.int(8);
      const mod = r.int(3);
      if (mod === 0 && rm === 6) return { modrmMod: 0, rm: 6, sib: null, disp: target & 0xffff, dispSize: 2 };
      const parts = PARTS[rm];
      if (parts.some((p) => this.fixed.has(p))) continue;
      const dispSize = mod === 0 ? 0 : mod === 1 ? 1 : 2;
      const disp = dispSize === 1 ? r.range(-128, 127) : dispSize === 2 ? r.int(0x10000) : 0;
      let rest = target - disp;
      for (let i = 1; i < parts.length; i++) {
        const v = r.u32();
        this.regs[parts[i]] = v;
        rest -= v & 0xffff;
      }
      // Upper halves of the address registers are random: 16-bit addressing must ignore them.
      this.regs[parts[0]] = ((r.u32() & 0xffff0000) | (rest & 0xffff)) >>> 0;
      for (const p of parts) this.fixed.add(p);
      return { modrmMod: mod, rm, sib: null, disp, dispSize };
    }
  }

  /** Adds an immediate (in operand order); for J the value is the target address. */
  imm(kind: Imm['kind'], size: number, value: number, sel?: number): void {
    this.imms.push({ kind, size, value, sel });
  }

  /** Length of the instruction (known once the layout is done). */
  length(): number {
    return this.prefixBytes().length + this.bodyWithoutImm().length + this.imms.reduce((n, i) => n + i.size, 0);
  }

  private prefixBytes(): number[] {
    const p = [...this.form.extra];
    if (this.form.o16) p.push(0x66);
    if (this.form.a16) p.push(0x67);
    return p;
  }

  private bodyWithoutImm(): number[] {
    const out = [...this.opcodeBytes];
    if (this.rawModrm !== null) out.push(this.rawModrm);
    else if (this.needsModrm()) {
      if (!this.form.mem) out.push(0xc0 | ((this.reg & 7) << 3) | (this.rm & 7));
      else {
        const m = this.mem!;
        out.push((m.modrmMod << 6) | ((this.reg & 7) << 3) | m.rm);
        if (m.sib !== null) out.push(m.sib);
        for (let i = 0; i < m.dispSize; i++) out.push((m.disp >>> (8 * i)) & 0xff);
      }
    }
    return out;
  }

  needsModrm(): boolean {
    return this.e.ext !== undefined || this.ops.some((o) => 'EGMRSCD'.includes(o.k));
  }

  /** The finished case (id assigned by the caller). */
  build(): Case {
    const bytes = [...this.prefixBytes(), ...this.bodyWithoutImm()];
    const start = this.codeStart(this.length());
    const end = start + this.length();
    for (const im of this.imms) {
      let v = im.value;
      if (im.kind === 'J') v = (im.value - end) | 0;
      for (let i = 0; i < im.size; i++) bytes.push(i < 4 ? (v >>> (8 * i)) & 0xff : 0);
      if (im.kind === 'A') bytes.push(im.sel! & 0xff, (im.sel! >>> 8) & 0xff);
    }
    return {
      id: 0,
      code: Uint8Array.from(bytes),
      codeOffset: start - CODE_ADDR,
      regs: this.regs,
      eflags: this.eflags,
      patches: this.patches,
      ldt: this.form.ldt,
      fpu: this.fpu,
    };
  }

  /** A one-line description of the case's form for failure messages. */
  describe(code: Uint8Array): string {
    const f = this.form;
    const tags = [f.mem ? 'mem' : this.needsModrm() ? 'reg' : '', f.o16 ? 'o16' : '', f.a16 ? 'a16' : '',
      f.ldt ? 'ldt-segments' : '', ...this.notes].filter((t) => t);
    return `${this.e.mnemonic} ${this.e.operands} [${tags.join(' ')}] bytes ${Array.from(code, (b) => hex(b)).join(' ')}`;
  }
}
