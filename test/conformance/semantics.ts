/**
 * What the generator must know about each instruction beyond its operand
 * spec: implicit registers, stack and branch targets that keep the case
 * inside the code area and the scratch area, operand values worth testing
 * (every shift count, every BCD input, each condition under each flag
 * combination, divisions that succeed and that fault), and which flags a
 * particular case leaves undefined.
 *
 * Keyed by mnemonic; entries without semantics get edge-biased random
 * operands.
 */
import { AF, CF, DF, ID, OF, PF, SF, ZF, AC } from '../../src/guest/cpu/flags';
import { Builder, EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP, STACK_TOP } from './builder';
import { LDT_SEL, USER_CS, USER_DS } from './layout';

export interface Semantics {
  /** Cases per operand form (before the suite's scale factor). */
  n?: number;
  /** Extra prefix sets crossed with every form (e.g. rep/repne for string ops). */
  prefixSets?: number[][];
  /** Operand size prefix is not meaningful (near branches would truncate EIP to 16 bits). */
  no16?: boolean;
  /** Address size matters even without a ModRM memory operand (strings, xlat, loop on CX). */
  addr16?: boolean;
  /** Before the ModRM layout: implicit registers, stack, flags. */
  pre?(b: Builder, i: number): void;
  /** After the layout: operand values. */
  post?(b: Builder, i: number): void;
  /** Value of an immediate operand (operand index k, size in bytes); undefined = default. */
  imm?(b: Builder, k: number, size: number, i: number): number | undefined;
}

export const SEMANTICS = new Map<string, Semantics>();

function def(names: string[], s: Semantics): void {
  for (const n of names) SEMANTICS.set(n, s);
}

const CONDS = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

/** Every combination of the five flags conditions test, in turn. */
function flagCombo(b: Builder, i: number): void {
  const bits = [CF, PF, ZF, SF, OF];
  let f = b.eflags & ~(CF | PF | ZF | SF | OF);
  for (let k = 0; k < 5; k++) if (i & (1 << k)) f |= bits[k];
  b.eflags = f;
}

/** The stack pointer as stack instructions need it: in the scratch stack area, usually aligned. */
function stack(b: Builder): void {
  const misalign = b.rng.chance(0.1) ? b.rng.range(1, 3) : 0;
  b.setReg(ESP, b.addr(STACK_TOP - 4 * b.rng.int(64) - misalign));
}

function stackOff(b: Builder): number {
  return (b.regs[ESP] - b.addr(0)) >>> 0;
}

// ---- Arithmetic ---------------------------------------------------------

def(['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp', 'test', 'inc', 'dec', 'not', 'neg'], { n: 40 });
def(['mul', 'imul'], { n: 40 });

function divide(b: Builder, i: number): void {
  const size = b.e.operands === 'Eb' ? 1 : b.opBytes;
  const bits = BigInt(8 * size);
  const signed = b.e.mnemonic === 'idiv';
  const r = b.rng;
  const rand = (nbits: bigint): bigint => {
    let v = 0n;
    for (let k = 0n; k < nbits; k += 32n) v = (v << 32n) | BigInt(r.u32());
    return v & ((1n << nbits) - 1n);
  };
  const toSigned = (v: bigint, n: bigint): bigint => (v >= 1n << (n - 1n) ? v - (1n << n) : v);
  const mode = i % 4;
  let d = mode === 1 ? 0n : BigInt(b.value(size));
  if (mode !== 1 && d === 0n) d = 1n;
  const ds = signed ? toSigned(d, bits) : d;
  let dividend: bigint;
  if (mode === 0 && ds !== 0n) {
    // A quotient that fits and a remainder smaller than the divisor, with the dividend's sign.
    const q = signed ? toSigned(rand(bits), bits) >> BigInt(r.int(Number(bits))) : rand(bits) >> BigInt(r.int(Number(bits)));
    const absD = ds < 0n ? -ds : ds;
    let rem = rand(bits) % absD;
    let dv = q * ds;
    if (signed && dv < 0n) rem = -rem;
    dv += rem;
    dividend = dv;
  } else if (mode === 2) {
    // Quotient overflow: for idiv also the most negative dividend by -1.
    if (signed && r.chance(0.3)) {
      d = (1n << bits) - 1n;
      dividend = -(1n << (2n * bits - 1n));
    } else {
      dividend = ds * (1n << bits) + rand(bits);
    }
  } else {
    dividend = rand(2n * bits);
  }
  const u = dividend & ((1n << (2n * bits)) - 1n);
  const lo = Number(u & ((1n << bits) - 1n));
  const hi = Number(u >> bits);
  if (size === 1) b.setRegPart(EAX, 2, lo | (hi << 8));
  else {
    b.setRegPart(EAX, size, lo);
    b.setRegPart(EDX, size, hi);
  }
  b.setE(size, Number(d));
}
def(['div', 'idiv'], {
  n: 48,
  pre(b) {
    b.fixed.add(EAX);
    b.fixed.add(EDX);
  },
  post: divide,
});

// BCD adjusts: every AL with every CF/AF input.
def(['daa', 'das', 'aaa', 'aas'], {
  n: 1024,
  pre(b, i) {
    b.setRegPart(EAX, 1, i & 0xff);
    b.eflags = (b.eflags & ~(CF | AF)) | (i & 0x100 ? CF : 0) | (i & 0x200 ? AF : 0);
  },
});
const AAM_BASES = [10, 0, 1, 16, 255, 7];
def(['aam', 'aad'], {
  n: 256 * AAM_BASES.length,
  pre(b, i) {
    b.setRegPart(EAX, 1, i & 0xff);
  },
  imm(b, _k, _s, i) {
    const v = AAM_BASES[i >> 8];
    return v === 7 ? b.rng.int(256) : v;
  },
});

// ---- Shifts and rotates -------------------------------------------------

const ROTATES = ['rol', 'ror', 'rcl', 'rcr'];

/** The flags a shift or rotate by `count` leaves undefined (SDM, per instruction). */
function shiftUndefined(mnemonic: string, count: number, bits: number): number {
  const m = count & 31;
  if (m === 0) return 0; // no flag changes at all
  let u = m === 1 ? 0 : OF;
  if (!ROTATES.includes(mnemonic)) {
    u |= AF;
    if (mnemonic !== 'sar' && m >= bits) u |= CF;
  }
  return u;
}

function shiftCount(b: Builder, i: number): number {
  return i < 34 ? i : b.rng.chance(0.5) ? b.rng.int(256) : b.rng.int(34);
}

def(['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'], {
  n: 68,
  pre(b, i) {
    const count = b.e.operands.endsWith(',1') ? 1 : shiftCount(b, i);
    b.vars.count = count;
    if (b.e.operands.endsWith(',CL')) b.setRegPart(ECX, 1, count);
    const bits = b.e.operands.startsWith('Eb') ? 8 : 8 * b.opBytes;
    b.undef = shiftUndefined(b.e.mnemonic, count, bits);
    b.notes.push(`count=${count}`);
  },
  imm: (b) => b.vars.count,
});

def(['shld', 'shrd'], {
  n: 68,
  pre(b, i) {
    let count = shiftCount(b, i);
    // A 16-bit double shift by more than 16 has an undefined result: not compared.
    if (b.form.o16 && (count & 31) > 16) count &= 15;
    b.vars.count = count;
    if (b.e.operands.endsWith(',CL')) b.setRegPart(ECX, 1, count);
    const m = count & 31;
    b.undef = m === 0 ? 0 : AF | (m === 1 ? 0 : OF);
    b.notes.push(`count=${count}`);
  },
  imm: (b) => b.vars.count,
});

// ---- Bits ---------------------------------------------------------------

def(['bt', 'bts', 'btr', 'btc'], {
  n: 40,
  pre(b) {
    if (b.e.operands === 'Ev,Gv') {
      b.presetReg = b.rng.pick([EAX, ECX, EDX, EBX, EBP, ESI, EDI]);
      b.fixed.add(b.presetReg);
    }
  },
  post(b) {
    if (b.e.operands !== 'Ev,Gv') return;
    const r = b.rng;
    let off: number;
    if (!b.form.mem) off = b.value(b.opBytes);
    else {
      // A register bit offset reaches anywhere around the operand: keep it in the scratch area.
      const span = b.form.o16 ? 0xfff : 0x3000;
      const lo = Math.max(-b.memOff, -span);
      const hi = Math.min(0xfff0 - b.memOff, span);
      off = (r.range(lo, hi) * 8 + r.int(8)) | 0;
    }
    b.setG(b.opBytes, off);
  },
});

def(['bsf', 'bsr'], {
  n: 40,
  post(b, i) {
    const size = b.opBytes;
    const v = i % 5 === 0 ? 0 : i % 5 === 1 ? 2 ** b.rng.int(8 * size) : b.value(size);
    b.setE(size, v);
  },
});

// ---- Data movement and exchange ----------------------------------------

def(['cmpxchg'], {
  n: 40,
  pre(b) {
    b.fixed.add(EAX);
  },
  post(b) {
    const size = b.e.operands === 'Eb,Gb' ? 1 : b.opBytes;
    if (b.rng.chance(0.5)) b.setRegPart(EAX, size, b.getE(size));
  },
});

def(['cmpxchg8b'], {
  n: 40,
  pre(b) {
    for (const r of [EAX, ECX, EDX, EBX]) b.fixed.add(r);
  },
  post(b) {
    if (b.rng.chance(0.5)) {
      b.setReg(EAX, b.peek(b.memOff, 4));
      b.setReg(EDX, b.peek(b.memOff + 4, 4));
    }
  },
});

def(['xlat'], {
  n: 32,
  addr16: true,
  pre(b) {
    const off = b.rng.range(0x100, 0xf000);
    if (b.form.a16) b.setReg(EBX, (b.rng.u32() & 0xffff0000) | off);
    else b.setReg(EBX, b.addr(off));
    b.fixed.add(EAX);
  },
});

def(['cwde', 'cdq', 'lahf', 'clc', 'stc', 'cmc', 'cld', 'std'], { n: 24 });
def(['sahf'], {
  n: 256,
  pre(b, i) {
    b.setRegPart(4 /* AH */, 1, i);
  },
});

def(['bound'], {
  n: 32,
  pre(b) {
    b.presetReg = b.rng.pick([EAX, ECX, EDX, EBX, EBP, ESI, EDI]);
    b.fixed.add(b.presetReg);
  },
  post(b, i) {
    const size = b.opBytes;
    const lo = b.value(size), hi = b.value(size);
    b.poke(b.memOff, size, lo);
    b.poke(b.memOff + size, size, hi);
    const pick = i % 4;
    const idx = pick === 0 ? lo : pick === 1 ? hi : b.value(size);
    b.setG(size, idx);
  },
});

// ---- Conditions ---------------------------------------------------------

for (const c of CONDS) {
  def(['j' + c], { n: 64, no16: true, pre: flagCombo });
  def(['set' + c, 'cmov' + c], { n: 64, pre: flagCombo });
}

const LOOP_COUNTS = [0, 1, 2, 3, 0xffffffff, 0x10000, 0x10001];
def(['loop', 'loope', 'loopne', 'jecxz'], {
  n: 56,
  no16: true,
  addr16: true,
  pre(b, i) {
    const c = LOOP_COUNTS[i % (LOOP_COUNTS.length + 1)] ?? b.rng.u32();
    b.setReg(ECX, b.form.a16 && b.rng.chance(0.5) ? (b.rng.u32() & 0xffff0000) | (c & 0xffff) : c);
    if (b.rng.chance(0.5)) b.eflags ^= ZF;
  },
});

// ---- Stack and control transfer ----------------------------------------

def(['push', 'pushad', 'pushfd'], { n: 24, pre: stack });
def(['pop'], {
  n: 24,
  pre(b) {
    stack(b);
    // pop with a memory operand computes its address after incrementing ESP.
    if (b.e.operands === 'Ev') b.espBias = b.opBytes;
  },
  post(b) {
    b.poke(stackOff(b), b.opBytes, b.value(b.opBytes));
  },
});
def(['popad'], {
  n: 24,
  pre: stack,
  post(b) {
    for (let k = 0; k < 8; k++) b.poke(stackOff(b) + k * b.opBytes, b.opBytes, b.value(b.opBytes));
  },
});

const ENTER_LEVELS = [0, 1, 2, 3, 5, 31, 32, 33];
def(['enter'], {
  n: 40,
  pre(b) {
    stack(b);
    b.setReg(EBP, b.regs[ESP] + 4 * b.rng.range(0, 0x80));
  },
  imm(b, k, _s, i) {
    // ENTER probes the final stack top, so the frame stays within the scratch area.
    if (k === 0) return b.rng.pick([0, 4, 8, b.rng.int(0x200), b.rng.int(0x7000)]);
    return ENTER_LEVELS[i % (ENTER_LEVELS.length + 1)] ?? b.rng.int(256);
  },
});
def(['leave'], {
  n: 24,
  pre(b) {
    b.setReg(ESP, b.value(4));
    const off = STACK_TOP - 4 * b.rng.range(0, 0x100) - (b.rng.chance(0.1) ? 1 : 0);
    b.setReg(EBP, b.addr(off));
    b.poke(off, 4, b.value(4));
  },
});

def(['ret'], {
  n: 24,
  no16: true,
  pre: stack,
  post(b) {
    b.poke(stackOff(b), 4, b.codeTarget(b.length() + (b.e.operands ? 2 : 0)));
  },
  imm: (b) => b.rng.pick([0, 4, 6, b.rng.int(0x100), b.rng.int(0x10000)]),
});
def(['call'], {
  n: 24,
  no16: true,
  pre(b) {
    stack(b);
    // call esp would push its return address over... its own target.
    b.avoidRm = [ESP];
  },
  post(b) {
    if (b.e.operands === 'Ev') b.setE(4, b.codeTarget(b.length()));
  },
});
def(['jmp'], {
  n: 24,
  no16: true,
  post(b) {
    if (b.e.operands === 'Ev') b.setE(4, b.codeTarget(b.length()));
  },
});

// ---- Strings ------------------------------------------------------------

const STRING_COUNTS = [0, 1, 2, 3, 7, 16];
function stringOps(b: Builder, i: number): void {
  const r = b.rng;
  const m = b.e.mnemonic;
  const size = m.endsWith('b') ? 1 : b.opBytes;
  const rep = b.form.extra.some((p) => p === 0xf2 || p === 0xf3);
  const count = rep ? STRING_COUNTS[i % (STRING_COUNTS.length + 1)] ?? r.int(40) : r.int(4);
  // Keep count * size bytes either way from both pointers inside the scratch area.
  const place = (): number => {
    // 16-bit offsets wrap at 64K; size-aligned so that no single access straddles the wrap.
    if (b.form.a16 && r.chance(0.2)) return (r.chance(0.5) ? r.int(8) : 0x10000 - r.range(1, 8) * size) & ~(size - 1) & 0xffff;
    return r.range(0x9000, 0xe000);
  };
  const src = place();
  // Overlapping copies, misaligned only away from the 64K wrap.
  const shift = src >= 0x9000 && src <= 0xe000 ? r.range(-8, 8) : r.range(-2, 2) * size;
  const dst = r.chance(0.2) ? (src + shift) & 0xffff : place();
  const reg = (off: number): number => (b.form.a16 ? (r.u32() & 0xffff0000) | off : b.addr(off));
  b.setReg(ESI, reg(src));
  b.setReg(EDI, reg(dst));
  b.setReg(ECX, b.form.a16 ? (r.u32() & 0xffff0000) | count : count);
  b.fixed.add(EAX);
  if (m.startsWith('cmps') || m.startsWith('scas')) {
    // Equal runs with one difference somewhere, so repe/repne stop at different points.
    const n = Math.max(count, 1) * size + 8;
    const lo = (o: number): number => (b.eflags & DF ? o - n + size : o);
    const bytes = new Uint8Array(n);
    for (let k = 0; k < n; k++) bytes[k] = r.int(256);
    const target = m.startsWith('scas') ? b.getRegPart(EAX, size) : 0;
    if (m.startsWith('scas')) for (let k = 0; k < n; k++) bytes[k] = (target >>> (8 * (k % size))) & 0xff;
    const other = Uint8Array.from(bytes);
    if (r.chance(0.7)) other[r.int(n)] ^= 1 << r.int(8);
    pokeWrapped(b, lo(src), m.startsWith('scas') ? other : bytes);
    if (m.startsWith('cmps')) pokeWrapped(b, lo(dst), other);
  }
}

/** Pokes bytes at a 16-bit offset that may wrap past 64K. */
function pokeWrapped(b: Builder, off: number, bytes: Uint8Array): void {
  for (let k = 0; k < bytes.length; k++) b.poke((off + k) & 0xffff, 1, bytes[k]);
}

def(['movsb', 'movsd', 'cmpsb', 'cmpsd', 'stosb', 'stosd', 'lodsb', 'lodsd', 'scasb', 'scasd'], {
  n: 24,
  addr16: true,
  prefixSets: [[], [0xf3], [0xf2]],
  pre: stringOps,
});

// ---- System instructions that a ring-3 process can run ------------------

/** Selectors worth loading: valid user ones, null, the LDT segment, kernel ones (#GP), a code segment. */
const SELECTORS = [USER_DS, USER_DS, 0, LDT_SEL, USER_CS, 0x1b, 0x33, 0x3b, 0xfff8];
/** For far transfers: not 0x33, the host's 64-bit code segment, which would leave compatibility mode. */
const FAR_SELECTORS = SELECTORS.filter((s) => s !== 0x33);

/** A selector for mov Sreg, pop Sreg, lds... and lar/lsl/verr/verw, sometimes with garbage in the upper half. */
export function selector(b: Builder, list = SELECTORS): number {
  return ((b.rng.chance(0.2) ? b.rng.u32() & 0xffff0000 : 0) | b.rng.pick(list)) >>> 0;
}

function farSelector(b: Builder): number {
  return b.rng.chance(0.7) ? USER_CS : selector(b, FAR_SELECTORS) & 0xffff;
}

/** EFLAGS values popf/iret may load at CPL 3 (no TF single-step, NT task return or VM). */
function flagsImage(b: Builder): number {
  return (b.rng.u32() & (CF | PF | AF | ZF | SF | OF | DF | AC | ID | 0x3200)) | 2;
}

def(['popfd'], {
  n: 48,
  pre: stack,
  post(b) {
    b.poke(stackOff(b), b.opBytes, flagsImage(b));
  },
});
def(['iretd'], {
  n: 24,
  no16: true,
  pre: stack,
  post(b) {
    const o = stackOff(b), w = b.opBytes;
    b.poke(o, w, b.codeTarget(b.length()));
    b.poke(o + w, w, farSelector(b));
    b.poke(o + 2 * w, w, flagsImage(b));
  },
});
def(['retf'], {
  n: 24,
  no16: true,
  pre: stack,
  post(b) {
    const o = stackOff(b);
    b.poke(o, 4, b.codeTarget(b.length() + (b.e.operands ? 2 : 0)));
    b.poke(o + 4, 4, farSelector(b));
  },
  imm: (b) => b.rng.pick([0, 4, b.rng.int(0x100)]),
});
def(['callf', 'jmpf'], {
  n: 24,
  no16: true,
  pre: stack,
  post(b) {
    b.poke(b.memOff, 4, b.codeTarget(b.length()));
    b.poke(b.memOff + 4, 2, farSelector(b));
  },
});
def(['les', 'lds', 'lss', 'lfs', 'lgs'], {
  n: 32,
  post(b) {
    b.poke(b.memOff + b.opBytes, 2, selector(b));
  },
});
def(['int'], {
  n: 16,
  // 0x80 is the system call gate: never generated.
  imm: (b) => b.rng.pick([3, 4, 5, 0x0d, 0x21, 0x7f, 0x81, 0xff]),
});
def(['into'], { n: 16, pre: (b, i) => void (b.eflags = i & 1 ? b.eflags | OF : b.eflags & ~OF) });
def(['arpl'], { n: 32 });
def(['lar', 'lsl', 'verr', 'verw'], {
  n: 32,
  post(b) {
    b.setE(2, selector(b));
  },
});

/** Far pointer immediates (call/jmp ptr16:32): the code page, mostly with the user code selector. */
export function farTarget(b: Builder, len: number): { offset: number; sel: number } {
  return { offset: b.codeTarget(len), sel: farSelector(b) };
}


