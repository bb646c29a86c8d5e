import type { AccessSize } from '../io-bus';
import { alu, cond, dec, inc, logic, MASK, materialize } from './alu';
import type { Cpu } from './cpu';
import { CR0_EM, CR0_MP, CR0_NE, CR0_TS, CR4_TSD, CS } from './control';
import { M, R } from './decoder';
import { iret, restoreFlags } from './delivery';
import { farCall, farJump, farRet } from './far';
import { fault, Vec } from './fault';
import { CF, DF, IF, OF, RF, VM } from './flags';
import { H } from './handler-ids';
import * as ops from './ops';
import { loadSeg } from './segments';
import { cmps, ins, lods, movs, outs, scas, stos } from './strings';
import * as sys from './system';

/**
 * Every instruction, every form: the executor's general path. exec.ts runs
 * the frequent forms inline and sends everything else here through a single
 * call site, so that an instruction seen for the first time deoptimises this
 * function, not the hot loop.
 *
 * Executes the record at `p` of a block whose first byte is at CS:beip.
 * Returns true when the instruction transferred control (EIP is set).
 */
export function execSlow(cpu: Cpu, p: number, m: number, h: number, beip: number): boolean {
  const code = cpu.code;
  const regs = cpu.regs;
  const mmu = cpu.mmu;
  switch (h) {
    // ---- ALU ---------------------------------------------------------------
    case H.ALU_EvGv: {
      const k = (m >> M.KIND_SHIFT) & 15;
      if ((m & (M.MEM | M.O16)) === 0) {
        const rm = (m >> 3) & 7;
        const r = alu(cpu, k, regs[rm], regs[m & 7], 2);
        if (k !== 7) regs[rm] = r;
      } else if ((m & M.MEM) !== 0 && (m & M.O16) === 0) {
        if (k === 7) {
          alu(cpu, 7, mmu.rd32(cpu.linR(p, 4)), regs[m & 7], 2);
        } else {
          const lin = cpu.linW(p, 4);
          mmu.wr32(lin, alu(cpu, k, mmu.rd32(lin), regs[m & 7], 2));
        }
      } else {
        ops.aluEvGv16(cpu, p, m, k);
      }
      break;
    }
    case H.ALU_GvEv: {
      const k = (m >> M.KIND_SHIFT) & 15;
      const g = m & 7;
      if ((m & M.O16) === 0) {
        const v = (m & M.MEM) !== 0 ? mmu.rd32(cpu.linR(p, 4)) : regs[(m >> 3) & 7];
        const r = alu(cpu, k, regs[g], v, 2);
        if (k !== 7) regs[g] = r;
      } else {
        const r = alu(cpu, k, regs[g] & 0xffff, ops.readEv(cpu, p, m), 1);
        if (k !== 7) cpu.setReg16(g, r);
      }
      break;
    }
    case H.ALU_EvI: {
      const k = (m >> M.KIND_SHIFT) & 15;
      const imm = code[p + R.IMM];
      if ((m & (M.MEM | M.O16)) === 0) {
        const rm = (m >> 3) & 7;
        const r = alu(cpu, k, regs[rm], imm, 2);
        if (k !== 7) regs[rm] = r;
      } else if ((m & M.MEM) !== 0 && (m & M.O16) === 0) {
        if (k === 7) {
          alu(cpu, 7, mmu.rd32(cpu.linR(p, 4)), imm, 2);
        } else {
          const lin = cpu.linW(p, 4);
          mmu.wr32(lin, alu(cpu, k, mmu.rd32(lin), imm, 2));
        }
      } else {
        ops.aluEvI16(cpu, p, m, k, imm & 0xffff);
      }
      break;
    }
    case H.ALU_EbGb:
      ops.aluEb(cpu, p, m, (m >> M.KIND_SHIFT) & 15, cpu.reg8(m & 7));
      break;
    case H.ALU_EbI:
      ops.aluEb(cpu, p, m, (m >> M.KIND_SHIFT) & 15, code[p + R.IMM] & 0xff);
      break;
    case H.ALU_GbEb: {
      const k = (m >> M.KIND_SHIFT) & 15;
      const r = alu(cpu, k, cpu.reg8(m & 7), ops.readEb(cpu, p, m), 0);
      if (k !== 7) cpu.setReg8(m & 7, r);
      break;
    }
    case H.TEST_EvGv:
      if ((m & M.O16) === 0) logic(cpu, ops.readEv(cpu, p, m) & regs[m & 7], 2);
      else logic(cpu, ops.readEv(cpu, p, m) & regs[m & 7] & 0xffff, 1);
      break;
    case H.TEST_EvI:
      if ((m & M.O16) === 0) logic(cpu, ops.readEv(cpu, p, m) & code[p + R.IMM], 2);
      else logic(cpu, ops.readEv(cpu, p, m) & code[p + R.IMM] & 0xffff, 1);
      break;
    case H.TEST_EbGb:
      logic(cpu, ops.readEb(cpu, p, m) & cpu.reg8(m & 7), 0);
      break;
    case H.TEST_EbI:
      logic(cpu, ops.readEb(cpu, p, m) & code[p + R.IMM] & 0xff, 0);
      break;
    case H.INC_Ev:
      if ((m & (M.MEM | M.O16)) === 0) {
        const rm = (m >> 3) & 7;
        regs[rm] = inc(cpu, regs[rm], 2);
      } else {
        ops.incDecEv(cpu, p, m, true);
      }
      break;
    case H.DEC_Ev:
      if ((m & (M.MEM | M.O16)) === 0) {
        const rm = (m >> 3) & 7;
        regs[rm] = dec(cpu, regs[rm], 2);
      } else {
        ops.incDecEv(cpu, p, m, false);
      }
      break;
    case H.INC_Eb:
      ops.incDecEb(cpu, p, m, true);
      break;
    case H.DEC_Eb:
      ops.incDecEb(cpu, p, m, false);
      break;
    case H.NOT_Eb:
      ops.rmwEb(cpu, p, m, 0);
      break;
    case H.NEG_Eb:
      ops.rmwEb(cpu, p, m, 1);
      break;
    case H.NOT_Ev:
      ops.rmwEv(cpu, p, m, 0);
      break;
    case H.NEG_Ev:
      ops.rmwEv(cpu, p, m, 1);
      break;
    case H.MUL_Eb: case H.IMUL_Eb: case H.DIV_Eb: case H.IDIV_Eb:
      ops.mulDivEb(cpu, code[p], ops.readEb(cpu, p, m));
      break;
    case H.MUL_Ev: case H.IMUL_Ev: case H.DIV_Ev: case H.IDIV_Ev:
      ops.mulDivEv(cpu, code[p], ops.readEv(cpu, p, m), (m & M.O16) !== 0);
      break;
    case H.IMUL_GvEv:
      ops.imul2(cpu, m, ops.readEv(cpu, p, m), regs[m & 7]);
      break;
    case H.IMUL_GvEvI:
      ops.imul2(cpu, m, ops.readEv(cpu, p, m), code[p + R.IMM]);
      break;
    case H.SHIFT_EvI:
      ops.shiftEv(cpu, p, m, code[p + R.IMM] & 31);
      break;
    case H.SHIFT_EvCL:
      ops.shiftEv(cpu, p, m, regs[1] & 31);
      break;
    case H.SHIFT_EbI:
      ops.shiftEb(cpu, p, m, code[p + R.IMM] & 31);
      break;
    case H.SHIFT_EbCL:
      ops.shiftEb(cpu, p, m, regs[1] & 31);
      break;
    case H.SHLD_I: case H.SHRD_I:
      ops.shiftDoubleEv(cpu, p, m, code[p] === H.SHLD_I, code[p + R.IMM] & 31);
      break;
    case H.SHLD_CL: case H.SHRD_CL:
      ops.shiftDoubleEv(cpu, p, m, code[p] === H.SHLD_CL, regs[1] & 31);
      break;
    case H.BT_EvGv:
      ops.bitTest(cpu, p, m, regs[m & 7], true);
      break;
    case H.BT_EvI:
      ops.bitTest(cpu, p, m, code[p + R.IMM] & 0xff, false);
      break;
    case H.BSF: case H.BSR:
      ops.bitScan(cpu, m, ops.readEv(cpu, p, m), code[p] === H.BSR);
      break;
    case H.BSWAP: {
      const rm = (m >> 3) & 7;
      const v = regs[rm];
      regs[rm] = (v >>> 24) | ((v >> 8) & 0xff00) | ((v & 0xff00) << 8) | (v << 24);
      break;
    }
    case H.CMPXCHG_Eb: case H.CMPXCHG_Ev:
      ops.cmpxchg(cpu, p, m, code[p] === H.CMPXCHG_Eb ? 0 : m & M.O16 ? 1 : 2);
      break;
    case H.CMPXCHG8B:
      ops.cmpxchg8b(cpu, p);
      break;
    case H.XADD_Eb: case H.XADD_Ev:
      ops.xadd(cpu, p, m, code[p] === H.XADD_Eb ? 0 : m & M.O16 ? 1 : 2);
      break;
    case H.DAA: case H.DAS: case H.AAA: case H.AAS:
      ops.bcdAdjust(cpu, code[p]);
      break;
    case H.AAM:
      ops.aam(cpu, code[p + R.IMM] & 0xff);
      break;
    case H.AAD:
      ops.aad(cpu, code[p + R.IMM] & 0xff);
      break;
    case H.CBW:
      if (m & M.O16) cpu.setReg16(0, (regs[0] << 24) >> 24);
      else regs[0] = (regs[0] << 16) >> 16;
      break;
    case H.CWD:
      if (m & M.O16) cpu.setReg16(2, (regs[0] << 16) >> 31);
      else regs[2] = regs[0] >> 31;
      break;
    case H.LAHF:
      cpu.setReg8(4, (cpu.getEflags() & 0xd5) | 2);
      break;
    case H.SAHF:
      materialize(cpu);
      cpu.flags = (cpu.flags & ~0xd5) | (cpu.reg8(4) & 0xd5);
      break;
    case H.CLC:
      materialize(cpu);
      cpu.flags &= ~CF;
      break;
    case H.STC:
      materialize(cpu);
      cpu.flags |= CF;
      break;
    case H.CMC:
      materialize(cpu);
      cpu.flags ^= CF;
      break;
    case H.CLD:
      cpu.flags &= ~DF;
      break;
    case H.STD:
      cpu.flags |= DF;
      break;

    // ---- data movement -------------------------------------------------------
    case H.MOV_GvEv:
      if ((m & M.O16) === 0) {
        regs[m & 7] = (m & M.MEM) !== 0 ? mmu.rd32(cpu.linR(p, 4)) : regs[(m >> 3) & 7];
      } else {
        cpu.setReg16(m & 7, ops.readEv(cpu, p, m));
      }
      break;
    case H.MOV_EvGv:
      if ((m & M.O16) === 0) {
        if ((m & M.MEM) !== 0) mmu.wr32(cpu.linW(p, 4), regs[m & 7]);
        else regs[(m >> 3) & 7] = regs[m & 7];
      } else {
        ops.writeEv(cpu, p, m, regs[m & 7]);
      }
      break;
    case H.MOV_EvI:
      if ((m & (M.MEM | M.O16)) === 0) regs[(m >> 3) & 7] = code[p + R.IMM];
      else ops.writeEv(cpu, p, m, code[p + R.IMM]);
      break;
    case H.MOV_GbEb:
      cpu.setReg8(m & 7, ops.readEb(cpu, p, m));
      break;
    case H.MOV_EbGb:
      ops.writeEb(cpu, p, m, cpu.reg8(m & 7));
      break;
    case H.MOV_EbI:
      ops.writeEb(cpu, p, m, code[p + R.IMM]);
      break;
    case H.LEA:
      if (m & M.O16) cpu.setReg16(m & 7, cpu.ea(p));
      else regs[m & 7] = cpu.ea(p);
      break;
    case H.MOVZX_Eb:
      if (m & M.O16) cpu.setReg16(m & 7, ops.readEb(cpu, p, m));
      else regs[m & 7] = ops.readEb(cpu, p, m);
      break;
    case H.MOVZX_Ew: {
      const v = (m & M.MEM) !== 0 ? mmu.rd16(cpu.linR(p, 2)) : regs[(m >> 3) & 7] & 0xffff;
      if (m & M.O16) cpu.setReg16(m & 7, v);
      else regs[m & 7] = v;
      break;
    }
    case H.MOVSX_Eb: {
      const v = (ops.readEb(cpu, p, m) << 24) >> 24;
      if (m & M.O16) cpu.setReg16(m & 7, v);
      else regs[m & 7] = v;
      break;
    }
    case H.MOVSX_Ew: {
      const v = (m & M.MEM) !== 0 ? mmu.rd16(cpu.linR(p, 2)) : regs[(m >> 3) & 7];
      if (m & M.O16) cpu.setReg16(m & 7, v);
      else regs[m & 7] = (v << 16) >> 16;
      break;
    }
    case H.XCHG_EvGv: case H.XCHG_EbGb:
      ops.xchg(cpu, p, m, code[p] === H.XCHG_EbGb ? 0 : m & M.O16 ? 1 : 2);
      break;
    case H.XCHG_AX: {
      const rm = (m >> 3) & 7;
      const t = regs[0];
      if (m & M.O16) {
        cpu.setReg16(0, regs[rm]);
        cpu.setReg16(rm, t);
      } else {
        regs[0] = regs[rm];
        regs[rm] = t;
      }
      break;
    }
    case H.NOP:
      break;
    case H.CMOV: {
      const v = ops.readEv(cpu, p, m);
      if (cond(cpu, (m >> M.KIND_SHIFT) & 15)) {
        if (m & M.O16) cpu.setReg16(m & 7, v);
        else regs[m & 7] = v;
      }
      break;
    }
    case H.SETCC:
      ops.writeEb(cpu, p, m, cond(cpu, (m >> M.KIND_SHIFT) & 15) ? 1 : 0);
      break;
    case H.XLAT: {
      const sum = (regs[3] + (regs[0] & 0xff)) | 0;
      const off = m & M.A16 ? sum & 0xffff : sum;
      cpu.setReg8(0, mmu.rd8(cpu.segLin((code[p + R.EA] >> 12) & 7, off, 1, false)));
      break;
    }
    case H.BOUND:
      ops.bound(cpu, p, m);
      break;
    case H.LXS:
      ops.loadFarPointer(cpu, p, m);
      break;
    case H.MOV_EvSw: {
      const s = m & 7;
      if (s > 5) fault(Vec.UD);
      if (m & M.MEM) mmu.wr16(cpu.linW(p, 2), cpu.segSel[s]);
      else if (m & M.O16) cpu.setReg16((m >> 3) & 7, cpu.segSel[s]);
      else regs[(m >> 3) & 7] = cpu.segSel[s];
      break;
    }
    case H.MOV_SwEw: {
      const s = m & 7;
      if (s === CS || s > 5) fault(Vec.UD);
      loadSeg(cpu, s, (m & M.MEM) !== 0 ? mmu.rd16(cpu.linR(p, 2)) : regs[(m >> 3) & 7] & 0xffff);
      if (s === 2) cpu.shadow = true;
      break;
    }

    // ---- stack -------------------------------------------------------------------
    case H.PUSH_R:
      if (m & M.O16) cpu.push16(regs[(m >> 3) & 7]);
      else cpu.push32(regs[(m >> 3) & 7]);
      break;
    case H.POP_R:
      if (m & M.O16) {
        const v = cpu.pop16();
        cpu.setReg16((m >> 3) & 7, v);
      } else {
        const v = cpu.pop32();
        regs[(m >> 3) & 7] = v;
      }
      break;
    case H.PUSH_I:
      if (m & M.O16) cpu.push16(code[p + R.IMM]);
      else cpu.push32(code[p + R.IMM]);
      break;
    case H.PUSH_Ev:
      if (m & M.O16) cpu.push16(ops.readEv(cpu, p, m));
      else cpu.push32(ops.readEv(cpu, p, m));
      break;
    case H.POP_Ev:
      ops.popEv(cpu, p, m);
      break;
    case H.PUSH_SEG:
      if (m & M.O16) cpu.push16(cpu.segSel[(m >> 3) & 7]);
      else cpu.pushSel32(cpu.segSel[(m >> 3) & 7]);
      break;
    case H.POP_SEG: {
      const s = (m >> 3) & 7;
      loadSeg(cpu, s, (m & M.O16 ? cpu.stackRead16(0) : cpu.stackRead32(0)) & 0xffff);
      cpu.setSp(cpu.regs[4] + (m & M.O16 ? 2 : 4));
      if (s === 2) cpu.shadow = true;
      break;
    }
    case H.PUSHA:
      ops.pusha(cpu, (m & M.O16) !== 0);
      break;
    case H.POPA:
      ops.popa(cpu, (m & M.O16) !== 0);
      break;
    case H.PUSHF: {
      const f = cpu.getEflags() & ~(VM | RF);
      if (m & M.O16) cpu.push16(f);
      else cpu.push32(f);
      break;
    }
    case H.POPF: {
      const o16 = (m & M.O16) !== 0;
      const v = o16 ? cpu.stackRead16(0) : cpu.stackRead32(0);
      cpu.setSp(cpu.regs[4] + (o16 ? 2 : 4));
      restoreFlags(cpu, v, o16, cpu.protectedMode ? cpu.cpl : 0, false);
      break;
    }
    case H.ENTER:
      ops.enter(cpu, (m & M.O16) !== 0, code[p + R.IMM] & 0xffff, code[p + R.IMM2] & 0x1f);
      break;
    case H.LEAVE:
      ops.leave(cpu, (m & M.O16) !== 0);
      break;

    // ---- control transfer --------------------------------------------------------------
    case H.JCC:
      if (cond(cpu, (m >> M.KIND_SHIFT) & 15)) {
        cpu.eip = ops.jumpTarget(beip, code[p + R.IMM], m);
        return true;
      }
      break;
    case H.JMP_J:
      cpu.eip = ops.jumpTarget(beip, code[p + R.IMM], m);
      return true;
    case H.CALL_J: {
      const next = ops.nextEip(cpu, beip, p);
      if (m & M.O16) cpu.push16(next);
      else cpu.push32(next);
      cpu.eip = ops.jumpTarget(beip, code[p + R.IMM], m);
      return true;
    }
    case H.RET:
      if (m & M.O16) cpu.eip = cpu.pop16();
      else cpu.eip = cpu.pop32();
      return true;
    case H.RET_I: {
      const o16 = (m & M.O16) !== 0;
      const t = o16 ? cpu.stackRead16(0) : cpu.stackRead32(0);
      cpu.setSp(cpu.regs[4] + (o16 ? 2 : 4) + (code[p + R.IMM] & 0xffff));
      cpu.eip = t;
      return true;
    }
    case H.JMP_Ev:
      cpu.eip = ops.readEv(cpu, p, m);
      return true;
    case H.CALL_Ev: {
      const t = ops.readEv(cpu, p, m);
      const next = ops.nextEip(cpu, beip, p);
      if (m & M.O16) cpu.push16(next);
      else cpu.push32(next);
      cpu.eip = t;
      return true;
    }
    case H.LOOP: case H.LOOPE: case H.LOOPNE: case H.JCXZ:
      if (ops.loop(cpu, code[p], m)) {
        cpu.eip = ops.jumpTarget(beip, code[p + R.IMM], m);
        return true;
      }
      break;
    case H.JMPF_A:
      farJump(cpu, code[p + R.IMM2], code[p + R.IMM], ops.nextEip(cpu, beip, p));
      return true;
    case H.CALLF_A:
      farCall(cpu, code[p + R.IMM2], code[p + R.IMM], (m & M.O16) !== 0, ops.nextEip(cpu, beip, p));
      return true;
    case H.JMPF_Ep: case H.CALLF_Ep:
      ops.farIndirect(cpu, p, m, code[p] === H.CALLF_Ep, ops.nextEip(cpu, beip, p));
      return true;
    case H.RETF:
      farRet(cpu, (m & M.O16) !== 0, 0);
      return true;
    case H.RETF_I:
      farRet(cpu, (m & M.O16) !== 0, code[p + R.IMM] & 0xffff);
      return true;
    case H.INT3:
      ops.softInt(cpu, beip, p, 3);
      return true;
    case H.INT_I:
      ops.softInt(cpu, beip, p, code[p + R.IMM] & 0xff);
      return true;
    case H.INTO:
      if (cpu.getEflags() & OF) {
        ops.softInt(cpu, beip, p, Vec.OF);
        return true;
      }
      break;
    case H.IRET:
      iret(cpu, (m & M.O16) !== 0);
      return true;

    // ---- strings -------------------------------------------------------------------------
    case H.MOVSB: case H.MOVSV:
      movs(cpu, ops.strSize(code[p], H.MOVSB, m), (code[p + R.EA] >> 12) & 7, (m & M.A16) !== 0, (m & (M.REP | M.REPNE)) !== 0);
      break;
    case H.STOSB: case H.STOSV:
      stos(cpu, ops.strSize(code[p], H.STOSB, m), (m & M.A16) !== 0, (m & (M.REP | M.REPNE)) !== 0);
      break;
    case H.LODSB: case H.LODSV:
      lods(cpu, ops.strSize(code[p], H.LODSB, m), (code[p + R.EA] >> 12) & 7, (m & M.A16) !== 0, (m & (M.REP | M.REPNE)) !== 0);
      break;
    case H.CMPSB: case H.CMPSV:
      cmps(cpu, ops.strSize(code[p], H.CMPSB, m), (code[p + R.EA] >> 12) & 7, (m & M.A16) !== 0, ops.repKind(m));
      break;
    case H.SCASB: case H.SCASV:
      scas(cpu, ops.strSize(code[p], H.SCASB, m), (m & M.A16) !== 0, ops.repKind(m));
      break;
    case H.INSB: case H.INSV:
      ins(cpu, ops.strSize(code[p], H.INSB, m), (m & M.A16) !== 0, (m & (M.REP | M.REPNE)) !== 0);
      break;
    case H.OUTSB: case H.OUTSV:
      outs(cpu, ops.strSize(code[p], H.OUTSB, m), (code[p + R.EA] >> 12) & 7, (m & M.A16) !== 0, (m & (M.REP | M.REPNE)) !== 0);
      break;

    // ---- port I/O -----------------------------------------------------------------------
    case H.IN_B_I: case H.IN_V_I: case H.IN_B_DX: case H.IN_V_DX: {
      const h = code[p];
      const port = h === H.IN_B_I || h === H.IN_V_I ? code[p + R.IMM] & 0xff : regs[2] & 0xffff;
      const size = h === H.IN_B_I || h === H.IN_B_DX ? 1 : m & M.O16 ? 2 : 4;
      sys.checkIo(cpu, port, size);
      const v = cpu.bus.in(port, size as AccessSize);
      if (size === 1) cpu.setReg8(0, v);
      else if (size === 2) cpu.setReg16(0, v);
      else regs[0] = v;
      break;
    }
    case H.OUT_B_I: case H.OUT_V_I: case H.OUT_B_DX: case H.OUT_V_DX: {
      const h = code[p];
      const port = h === H.OUT_B_I || h === H.OUT_V_I ? code[p + R.IMM] & 0xff : regs[2] & 0xffff;
      const size = h === H.OUT_B_I || h === H.OUT_B_DX ? 1 : m & M.O16 ? 2 : 4;
      sys.checkIo(cpu, port, size);
      cpu.bus.out(port, size as AccessSize, (regs[0] & MASK[size >> 1]) >>> 0);
      break;
    }

    // ---- x87 -----------------------------------------------------------------------------
    case H.X87: {
      if (cpu.cr0 & (CR0_EM | CR0_TS)) fault(Vec.NM);
      const seg = (code[p + R.EA] >> 12) & 7;
      const addr = m & M.MEM ? cpu.linR(p, 1) : 0;
      cpu.fpu.setLastInstruction(cpu.segSel[CS], ops.curEip(cpu, beip, p), cpu.segSel[seg]);
      const x = code[p + R.X];
      cpu.fpu.execute(x >> 8, x & 0xff, addr, (m & M.O16) !== 0);
      break;
    }
    case H.FWAIT:
      if ((cpu.cr0 & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) fault(Vec.NM);
      if (cpu.fpu.hasPendingException() && cpu.cr0 & CR0_NE) fault(Vec.MF);
      break;
    case H.FXSAVE: case H.FXRSTOR:
      ops.fxsaveRestore(cpu, p, code[p] === H.FXSAVE);
      break;

    // ---- system --------------------------------------------------------------------------------
    case H.HLT:
      if (cpu.protectedMode) sys.requireCpl0(cpu);
      cpu.halted = true;
      cpu.eip = ops.nextEip(cpu, beip, p);
      return true;
    case H.CLI:
      if (cpu.protectedMode && cpu.cpl > cpu.iopl) fault(Vec.GP, 0);
      cpu.flags &= ~IF;
      break;
    case H.STI:
      if (cpu.protectedMode && cpu.cpl > cpu.iopl) fault(Vec.GP, 0);
      if ((cpu.flags & IF) === 0) cpu.shadow = true;
      cpu.flags |= IF;
      break;
    case H.RDTSC: {
      if (cpu.cr4 & CR4_TSD && cpu.cpl !== 0 && cpu.protectedMode) fault(Vec.GP, 0);
      const t = sys.tsc(cpu);
      regs[0] = t % 4294967296;
      regs[2] = Math.floor(t / 4294967296);
      break;
    }
    case H.CPUID:
      sys.cpuid(cpu);
      break;
    case H.UD:
      ops.undefinedOpcode(cpu, beip, p);
      break;
    case H.UD2:
      fault(Vec.UD);
      break;
    case H.GP0:
      fault(Vec.GP, 0);
      break;
    default:
      return ops.system(cpu, p, m, code[p], beip);
  }
  return false;
}
