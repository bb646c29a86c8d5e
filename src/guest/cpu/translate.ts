import { alu, cond, dec, inc, logic, setRes } from './alu';
import { B } from './block-cache';
import type { Cpu } from './cpu';
import { M, R, STRIDE } from './decoder';
import { EA } from './decoder';
import { execSlow } from './exec-slow';
import { H } from './handler-ids';
import * as ops from './ops';
import { segCheck } from './segments';

/**
 * The translator: a hot block's records become one JavaScript function, with
 * every register number, immediate, displacement and ALU operation written
 * in as a constant, so V8 compiles the guest's inner loops (sha256, the
 * module-signature bignum code, inflate) into straight-line machine code
 * instead of dispatching each instruction through the interpreter's switch.
 *
 * It covers the same forms as the interpreter's fast path (exec.ts), with
 * the same semantics; any other record becomes a call of execSlow(), so
 * every block can be translated. The function sets EIP and returns the
 * number of instructions it retired. It keeps the interpreter's contracts:
 * before anything that can fault, cpu.ip names the running record (a fault
 * unwinds exactly as it would from exec.ts), and after an instruction that
 * may write memory it checks that its own block is still valid, leaving at
 * once if the write hit its code.
 */
export type BlockFn = (cpu: Cpu, regs: Int32Array, beip: number) => number;

const HELPERS = { alu, cond, dec, inc, logic, setRes, ops, execSlow, segCheck };
type Helpers = typeof HELPERS;

function hex(v: number): string {
  return v < 0 ? `(${v})` : `0x${v.toString(16)}`;
}

/** Register-only forms that cannot fault: no need to tell cpu.ip where they are. */
function cannotFault(h: number, m: number): boolean {
  if (m & M.MEM) return false;
  switch (h) {
    case H.JCC: case H.JMP_J: case H.ALU_EvGv: case H.ALU_EvI: case H.ALU_GvEv: case H.ALU_EbI: case H.TEST_EbGb:
    case H.TEST_EbI: case H.TEST_EvGv: case H.TEST_EvI: case H.INC_Ev: case H.DEC_Ev: case H.MOV_GvEv: case H.MOV_EvGv:
    case H.MOV_EvI: case H.MOV_GbEb: case H.MOV_EbGb: case H.MOV_EbI: case H.LEA: case H.MOVZX_Eb: case H.MOVZX_Ew:
    case H.MOVSX_Eb: case H.CMOV: case H.SETCC: case H.SHIFT_EvI: case H.XCHG_AX: case H.NOP:
    case H.IMUL_GvEv: case H.IMUL_GvEvI:
      return (m & M.O16) === 0;
    default:
      return false;
  }
}

/** Handlers that write memory (or may, through execSlow), after which the block checks it is still valid. */
function mayWrite(h: number, m: number): boolean {
  switch (h) {
    case H.ALU_EvGv: case H.ALU_EvI: case H.ALU_EbI:
      return (m & M.MEM) !== 0 && ((m >> M.KIND_SHIFT) & 15) !== 7;
    case H.MOV_EvGv: case H.MOV_EvI: case H.MOV_EbGb: case H.MOV_EbI: case H.SETCC: case H.SHIFT_EvI:
    case H.INC_Ev: case H.DEC_Ev:
      return (m & M.MEM) !== 0;
    case H.PUSH_R: case H.PUSH_I: case H.PUSH_Ev:
      return true;
    case H.JCC: case H.ALU_GvEv: case H.TEST_EbGb: case H.TEST_EbI: case H.TEST_EvGv: case H.TEST_EvI:
    case H.MOV_GvEv: case H.MOV_GbEb: case H.LEA: case H.MOVZX_Eb: case H.MOVZX_Ew:
    case H.MOVSX_Eb: case H.CMOV: case H.POP_R: case H.XCHG_AX: case H.NOP: case H.IMUL_GvEv: case H.IMUL_GvEvI:
      return false;
    default:
      return true;
  }
}

/** Generates the source of one block. */
class BlockWriter {
  private readonly out: string[] = [];
  private n = 0;

  constructor(
    private readonly code: Int32Array,
    private readonly csD: boolean,
    private readonly blockId: number,
  ) {}

  /** EIP expression for an offset from the block start. */
  private eip(off: number): string {
    return this.csD ? `(beip + ${off}) | 0` : `(beip + ${off}) & 0xffff`;
  }

  private reg8(r: number): string {
    return r < 4 ? `(regs[${r}] & 0xff)` : `((regs[${r - 4}] >> 8) & 0xff)`;
  }

  /** Offset expression of the record's memory operand. */
  private offset(p: number): string {
    const e = this.code[p + R.EA];
    const parts = [hex(this.code[p + R.DISP])];
    const base = e & 15;
    const index = (e >> 4) & 15;
    if (base !== EA.NONE) parts.push(`regs[${base}]`);
    if (index !== EA.NONE) parts.push((e >> 8) & 3 ? `(regs[${index}] << ${(e >> 8) & 3})` : `regs[${index}]`);
    const sum = `((${parts.join(' + ')}) | 0)`;
    return e & EA.A16 ? `(${sum} & 0xffff)` : sum;
  }

  /** Statement setting `lin` to the checked linear address of a `size`-byte access. */
  private lin(p: number, size: number, write: boolean): string {
    const seg = (this.code[p + R.EA] >> 12) & 7;
    const lim = write ? 'segWLim' : 'segRLim';
    return `const o = ${this.offset(p)}; const lin = (o >>> 0) + ${size - 1} <= cpu.${lim}[${seg}] ? (cpu.segBase[${seg}] + o) | 0 : h.segCheck(cpu, ${seg}, o, ${size}, ${write});`;
  }

  /** Expression reading the 32-bit E operand (after lin() for memory). */
  private ev(m: number): string {
    return m & M.MEM ? 'mmu.rd32(lin)' : `regs[${(m >> 3) & 7}]`;
  }

  private emit(s: string): void {
    this.out.push(s);
  }

  /** Translate one record; false when it must go to execSlow. */
  private fast(p: number, h: number, m: number): boolean {
    const code = this.code;
    const imm = code[p + R.IMM];
    const g = m & 7;
    const rm = (m >> 3) & 7;
    const k = (m >> M.KIND_SHIFT) & 15;
    const mem = (m & M.MEM) !== 0;
    const o32 = (m & M.O16) === 0;
    const ret = `return ${this.n};`;
    const target = (m & M.O16) ? `(beip + ${imm}) & 0xffff` : `(beip + ${imm}) | 0`;
    const next = this.eip(code[p + R.OFFS] >>> 16);
    const memR = (size: number): string => (mem ? this.lin(p, size, false) : '');
    switch (h) {
      case H.JCC:
        this.emit(`if (h.cond(cpu, ${k})) { cpu.eip = ${target}; ${ret} }`);
        return true;
      case H.JMP_J:
        this.emit(`cpu.eip = ${target}; ${ret}`);
        return true;
      case H.ALU_EvGv: case H.ALU_EvI: {
        if (!o32) return false;
        const b = h === H.ALU_EvGv ? `regs[${g}]` : hex(imm);
        if (!mem) {
          this.emit(k === 7 ? `h.alu(cpu, 7, regs[${rm}], ${b}, 2);` : `regs[${rm}] = h.alu(cpu, ${k}, regs[${rm}], ${b}, 2);`);
        } else if (k === 7) {
          this.emit(`{ ${this.lin(p, 4, false)} h.alu(cpu, 7, mmu.rd32(lin), ${b}, 2); }`);
        } else {
          this.emit(`{ ${this.lin(p, 4, true)} mmu.wr32(lin, h.alu(cpu, ${k}, mmu.rd32(lin), ${b}, 2)); }`);
        }
        return true;
      }
      case H.ALU_GvEv:
        if (!o32) return false;
        this.emit(`{ ${memR(4)} const r = h.alu(cpu, ${k}, regs[${g}], ${this.ev(m)}, 2);${k !== 7 ? ` regs[${g}] = r;` : ''} }`);
        return true;
      case H.ALU_EbI:
        this.emit(`h.ops.aluEb(cpu, ${p}, ${m}, ${k}, ${imm & 0xff});`);
        return true;
      case H.IMUL_GvEv: case H.IMUL_GvEvI:
        if (!o32) return false;
        this.emit(`{ ${memR(4)} h.ops.imul2(cpu, ${m}, ${this.ev(m)}, ${h === H.IMUL_GvEv ? `regs[${g}]` : hex(imm)}); }`);
        return true;
      case H.TEST_EbGb:
        this.emit(`h.logic(cpu, h.ops.readEb(cpu, ${p}, ${m}) & ${this.reg8(g)}, 0);`);
        return true;
      case H.TEST_EbI:
        this.emit(`h.logic(cpu, h.ops.readEb(cpu, ${p}, ${m}) & ${imm & 0xff}, 0);`);
        return true;
      case H.TEST_EvGv: case H.TEST_EvI:
        if (!o32) return false;
        this.emit(`{ ${memR(4)} h.logic(cpu, ${this.ev(m)} & ${h === H.TEST_EvGv ? `regs[${g}]` : hex(imm)}, 2); }`);
        return true;
      case H.INC_Ev: case H.DEC_Ev: {
        if (!o32) return false;
        const f = h === H.INC_Ev ? 'inc' : 'dec';
        this.emit(mem
          ? `{ ${this.lin(p, 4, true)} mmu.wr32(lin, h.${f}(cpu, mmu.rd32(lin), 2)); }`
          : `regs[${rm}] = h.${f}(cpu, regs[${rm}], 2);`);
        return true;
      }
      case H.MOV_GvEv:
        if (!o32) return false;
        this.emit(`{ ${memR(4)} regs[${g}] = ${this.ev(m)}; }`);
        return true;
      case H.MOV_EvGv: case H.MOV_EvI: {
        if (!o32) return false;
        const v = h === H.MOV_EvGv ? `regs[${g}]` : hex(imm);
        this.emit(mem ? `{ ${this.lin(p, 4, true)} mmu.wr32(lin, ${v}); }` : `regs[${rm}] = ${v};`);
        return true;
      }
      case H.MOV_GbEb:
        this.emit(`cpu.setReg8(${g}, h.ops.readEb(cpu, ${p}, ${m}));`);
        return true;
      case H.MOV_EbGb:
        this.emit(`h.ops.writeEb(cpu, ${p}, ${m}, ${this.reg8(g)});`);
        return true;
      case H.MOV_EbI:
        this.emit(`h.ops.writeEb(cpu, ${p}, ${m}, ${imm & 0xff});`);
        return true;
      case H.LEA:
        if (!o32) return false;
        this.emit(`regs[${g}] = ${this.offset(p)};`);
        return true;
      case H.MOVZX_Eb: case H.MOVSX_Eb:
        if (!o32) return false;
        this.emit(h === H.MOVZX_Eb
          ? `regs[${g}] = h.ops.readEb(cpu, ${p}, ${m});`
          : `regs[${g}] = (h.ops.readEb(cpu, ${p}, ${m}) << 24) >> 24;`);
        return true;
      case H.MOVZX_Ew:
        if (!o32) return false;
        this.emit(mem ? `{ ${this.lin(p, 2, false)} regs[${g}] = mmu.rd16(lin); }` : `regs[${g}] = regs[${rm}] & 0xffff;`);
        return true;
      case H.CMOV:
        if (!o32) return false;
        this.emit(`{ ${memR(4)} const v = ${this.ev(m)}; if (h.cond(cpu, ${k})) regs[${g}] = v; }`);
        return true;
      case H.SETCC:
        this.emit(`h.ops.writeEb(cpu, ${p}, ${m}, h.cond(cpu, ${k}) ? 1 : 0);`);
        return true;
      case H.SHIFT_EvI: {
        const c = imm & 31;
        if (o32 && !mem && c !== 0 && k >= 4) {
          // shl/sal, shr, sar of a register by a constant: the flags are plain expressions.
          const v = `regs[${rm}]`;
          if (k === 5) {
            this.emit(`{ const v = ${v}; const r = (v >>> ${c}) | 0; ${v} = r; h.setRes(cpu, r, 2, (v >>> ${c - 1}) & 1, v >>> 31); }`);
          } else if (k === 7) {
            this.emit(`{ const v = ${v}; const r = v >> ${c}; ${v} = r; h.setRes(cpu, r, 2, (v >> ${c - 1}) & 1, 0); }`);
          } else {
            this.emit(`{ const v = ${v}; const r = v << ${c}; const cf = (v >>> ${32 - c}) & 1; ${v} = r; h.setRes(cpu, r, 2, cf, (r >>> 31) ^ cf); }`);
          }
          return true;
        }
        this.emit(`h.ops.shiftEv(cpu, ${p}, ${m}, ${c});`);
        return true;
      }
      case H.PUSH_R:
        if (!o32) return false;
        this.emit(`cpu.push32(regs[${rm}]);`);
        return true;
      case H.PUSH_I:
        if (!o32) return false;
        this.emit(`cpu.push32(${hex(imm)});`);
        return true;
      case H.PUSH_Ev:
        if (!o32) return false;
        this.emit(`{ ${memR(4)} cpu.push32(${this.ev(m)}); }`);
        return true;
      case H.POP_R:
        if (!o32) return false;
        this.emit(`{ const v = cpu.pop32(); regs[${rm}] = v; }`);
        return true;
      case H.XCHG_AX:
        if (!o32) return false;
        this.emit(`{ const t = regs[0]; regs[0] = regs[${rm}]; regs[${rm}] = t; }`);
        return true;
      case H.NOP:
        return true;
      case H.CALL_J:
        if (!o32) return false;
        this.emit(`cpu.push32(${next}); cpu.eip = ${target}; ${ret}`);
        return true;
      case H.RET:
        if (!o32) return false;
        this.emit(`cpu.eip = cpu.pop32(); ${ret}`);
        return true;
      case H.JMP_Ev:
        if (!o32) return false;
        this.emit(`{ ${memR(4)} cpu.eip = ${this.ev(m)}; ${ret} }`);
        return true;
      case H.CALL_Ev:
        if (!o32) return false;
        this.emit(`{ ${memR(4)} const t = ${this.ev(m)}; cpu.push32(${next}); cpu.eip = t; ${ret} }`);
        return true;
      default:
        return false;
    }
  }

  write(start: number, end: number): string {
    const code = this.code;
    for (let p = start; p < end; p += STRIDE) {
      this.n++;
      const h = code[p + R.H];
      const m = code[p + R.M];
      const last = p + STRIDE >= end;
      if (!cannotFault(h, m)) this.emit(`cpu.ip = ${p};`);
      if (!this.fast(p, h, m)) {
        this.emit(`if (h.execSlow(cpu, ${p}, ${m}, ${h}, beip)) return ${this.n};`);
      }
      if (!last && mayWrite(h, m)) {
        // A write into this block's own code: leave before running stale translations.
        this.emit(`if (cache.blk[${this.blockId * B.SIZE + B.VALID}] === 0) { cpu.eip = ${this.eip(code[p + R.OFFS] >>> 16)}; return ${this.n}; }`);
      }
    }
    this.emit(`cpu.eip = ${this.eip(code[end - STRIDE + R.OFFS] >>> 16)};`);
    this.emit(`return ${this.n};`);
    return this.out.join('\n');
  }
}

/**
 * Compile records [start, end) of block `blockId` (decoded with CS.D = csD)
 * into a function.
 */
export function translateBlock(cpu: Cpu, blockId: number, start: number, end: number, csD: boolean): BlockFn {
  const body = new BlockWriter(cpu.code, csD, blockId).write(start, end);
  const factory = new Function(
    'h',
    'mmu',
    'cache',
    `"use strict";\nreturn function block_${blockId}(cpu, regs, beip) {\n${body}\n};`,
  ) as (h: Helpers, mmu: Cpu['mmu'], cache: Cpu['cache']) => BlockFn;
  return factory(HELPERS, cpu.mmu, cpu.cache);
}
