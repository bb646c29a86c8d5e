import { alu, cond, dec, inc, logic } from './alu';
import { B, NEVER, COMPILED } from './block-cache';
import type { Cpu } from './cpu';
import { CS } from './control';
import { M, R, STRIDE } from './decoder';
import { execSlow } from './exec-slow';
import { IF, TF } from './flags';
import { H } from './handler-ids';
import * as ops from './ops';

/**
 * Run decoded blocks, starting with records [start, end) whose first byte is
 * at CS:beip, until `target` instructions have retired or something needs
 * the run loop (Cpu.runBlocks): an interrupt to take, hlt, a block not yet
 * decoded or a TLB miss on the next fetch, single-stepping. With `chain`
 * false it returns after the first block.
 *
 * This is the hot loop: one switch on a dense handler number, no allocation,
 * no closures. It holds only the forms that dominate real code (32-bit
 * operands, the common ALU, move, stack and branch instructions, measured on
 * a Linux boot); a case whose fast path does not apply breaks out of the
 * switch to the one call of execSlow(), which implements everything. Keeping
 * rare code out of this function keeps it small for V8 and stops the first
 * use of some rare instruction from deoptimising it.
 *
 * Control transfers end a block: they set EIP and leave the block's loop;
 * falling off the end sets EIP to the byte after the last instruction. The
 * next block is then found right here, through the block's successor links
 * or the TLB and the block cache, without a trip through the run loop.
 */
export function execBlocks(cpu: Cpu, start: number, end: number, beip: number, target: number, chain: boolean): void {
  const code = cpu.code;
  const regs = cpu.regs;
  const mmu = cpu.mmu;
  const cache = cpu.cache;
  const blk = cache.blk;
  const intr = cpu.intr;
  for (;;) {
    let n = (end - start) >> 3;
    let jumped = false;
    const id = cpu.blockId;
    if (chain) {
      // The block's entry says whether its page is compiled, so a block
      // without a region costs no look at the region table.
      const at = id * B.SIZE + B.HITS;
      const hits = blk[at];
      if (hits === COMPILED || (hits + 1 >= cpu.compileAfter && cpu.regions.compile(id))) {
        cpu.ip = -1;
        const retired = cpu.regions.run(id, beip, target - cpu.instructionCount);
        if (retired !== 0) {
          n = retired;
          jumped = true;
        } else {
          // Its first instruction is one regions leave to the interpreter.
          blk[at] = NEVER;
        }
      } else if (hits !== NEVER) {
        blk[at] = hits + 1;
      }
    }
    if (!jumped) block: for (let p = start; p < end; p += STRIDE) {
      cpu.ip = p;
      const m = code[p + R.M];
      const h = code[p];
      switch (h) {
        case H.JCC:
          if (cond(cpu, (m >> M.KIND_SHIFT) & 15)) {
            cpu.eip = ops.jumpTarget(beip, code[p + R.IMM], m);
            jumped = true;
            break block;
          }
          continue;
        case H.ALU_EvGv:
          if ((m & M.O16) === 0) {
            const k = (m >> M.KIND_SHIFT) & 15;
            if ((m & M.MEM) === 0) {
              const rm = (m >> 3) & 7;
              const r = alu(cpu, k, regs[rm], regs[m & 7], 2);
              if (k !== 7) regs[rm] = r;
            } else if (k === 7) {
              alu(cpu, 7, mmu.rd32(cpu.linR(p, 4)), regs[m & 7], 2);
            } else {
              const lin = cpu.linW(p, 4);
              mmu.wr32(lin, alu(cpu, k, mmu.rd32(lin), regs[m & 7], 2));
            }
            continue;
          }
          break;
        case H.ALU_EvI:
          if ((m & M.O16) === 0) {
            const k = (m >> M.KIND_SHIFT) & 15;
            if ((m & M.MEM) === 0) {
              const rm = (m >> 3) & 7;
              const r = alu(cpu, k, regs[rm], code[p + R.IMM], 2);
              if (k !== 7) regs[rm] = r;
            } else if (k === 7) {
              alu(cpu, 7, mmu.rd32(cpu.linR(p, 4)), code[p + R.IMM], 2);
            } else {
              const lin = cpu.linW(p, 4);
              mmu.wr32(lin, alu(cpu, k, mmu.rd32(lin), code[p + R.IMM], 2));
            }
            continue;
          }
          break;
        case H.ALU_GvEv:
          if ((m & M.O16) === 0) {
            const k = (m >> M.KIND_SHIFT) & 15;
            const v = (m & M.MEM) !== 0 ? mmu.rd32(cpu.linR(p, 4)) : regs[(m >> 3) & 7];
            const r = alu(cpu, k, regs[m & 7], v, 2);
            if (k !== 7) regs[m & 7] = r;
            continue;
          }
          break;
        case H.ALU_EbI:
          ops.aluEb(cpu, p, m, (m >> M.KIND_SHIFT) & 15, code[p + R.IMM] & 0xff);
          continue;
        case H.TEST_EbGb:
          logic(cpu, ops.readEb(cpu, p, m) & cpu.reg8(m & 7), 0);
          continue;
        case H.TEST_EbI:
          logic(cpu, ops.readEb(cpu, p, m) & code[p + R.IMM] & 0xff, 0);
          continue;
        case H.TEST_EvGv:
          if ((m & M.O16) === 0) {
            logic(cpu, ((m & M.MEM) !== 0 ? mmu.rd32(cpu.linR(p, 4)) : regs[(m >> 3) & 7]) & regs[m & 7], 2);
            continue;
          }
          break;
        case H.TEST_EvI:
          if ((m & M.O16) === 0) {
            logic(cpu, ((m & M.MEM) !== 0 ? mmu.rd32(cpu.linR(p, 4)) : regs[(m >> 3) & 7]) & code[p + R.IMM], 2);
            continue;
          }
          break;
        case H.INC_Ev:
          if ((m & M.O16) === 0) {
            if ((m & M.MEM) === 0) {
              const rm = (m >> 3) & 7;
              regs[rm] = inc(cpu, regs[rm], 2);
            } else {
              const lin = cpu.linW(p, 4);
              mmu.wr32(lin, inc(cpu, mmu.rd32(lin), 2));
            }
            continue;
          }
          break;
        case H.DEC_Ev:
          if ((m & M.O16) === 0) {
            if ((m & M.MEM) === 0) {
              const rm = (m >> 3) & 7;
              regs[rm] = dec(cpu, regs[rm], 2);
            } else {
              const lin = cpu.linW(p, 4);
              mmu.wr32(lin, dec(cpu, mmu.rd32(lin), 2));
            }
            continue;
          }
          break;
        case H.MOV_GvEv:
          if ((m & M.O16) === 0) {
            regs[m & 7] = (m & M.MEM) !== 0 ? mmu.rd32(cpu.linR(p, 4)) : regs[(m >> 3) & 7];
            continue;
          }
          break;
        case H.MOV_EvGv:
          if ((m & M.O16) === 0) {
            if ((m & M.MEM) !== 0) mmu.wr32(cpu.linW(p, 4), regs[m & 7]);
            else regs[(m >> 3) & 7] = regs[m & 7];
            continue;
          }
          break;
        case H.MOV_EvI:
          if ((m & M.O16) === 0) {
            if ((m & M.MEM) !== 0) mmu.wr32(cpu.linW(p, 4), code[p + R.IMM]);
            else regs[(m >> 3) & 7] = code[p + R.IMM];
            continue;
          }
          break;
        case H.MOV_GbEb:
          cpu.setReg8(m & 7, ops.readEb(cpu, p, m));
          continue;
        case H.MOV_EbGb:
          ops.writeEb(cpu, p, m, cpu.reg8(m & 7));
          continue;
        case H.MOV_EbI:
          ops.writeEb(cpu, p, m, code[p + R.IMM]);
          continue;
        case H.LEA:
          if ((m & M.O16) === 0) {
            regs[m & 7] = cpu.ea(p);
            continue;
          }
          break;
        case H.MOVZX_Eb:
          if ((m & M.O16) === 0) {
            regs[m & 7] = ops.readEb(cpu, p, m);
            continue;
          }
          break;
        case H.MOVZX_Ew:
          if ((m & M.O16) === 0) {
            regs[m & 7] = (m & M.MEM) !== 0 ? mmu.rd16(cpu.linR(p, 2)) : regs[(m >> 3) & 7] & 0xffff;
            continue;
          }
          break;
        case H.MOVSX_Eb:
          if ((m & M.O16) === 0) {
            regs[m & 7] = (ops.readEb(cpu, p, m) << 24) >> 24;
            continue;
          }
          break;
        case H.CMOV:
          if ((m & M.O16) === 0) {
            const v = (m & M.MEM) !== 0 ? mmu.rd32(cpu.linR(p, 4)) : regs[(m >> 3) & 7];
            if (cond(cpu, (m >> M.KIND_SHIFT) & 15)) regs[m & 7] = v;
            continue;
          }
          break;
        case H.SETCC:
          ops.writeEb(cpu, p, m, cond(cpu, (m >> M.KIND_SHIFT) & 15) ? 1 : 0);
          continue;
        case H.SHIFT_EvI:
          ops.shiftEv(cpu, p, m, code[p + R.IMM] & 31);
          continue;
        case H.PUSH_R:
          if ((m & M.O16) === 0) {
            cpu.push32(regs[(m >> 3) & 7]);
            continue;
          }
          break;
        case H.POP_R:
          if ((m & M.O16) === 0) {
            const v = cpu.pop32();
            regs[(m >> 3) & 7] = v;
            continue;
          }
          break;
        case H.PUSH_I:
          if ((m & M.O16) === 0) {
            cpu.push32(code[p + R.IMM]);
            continue;
          }
          break;
        case H.PUSH_Ev:
          if ((m & M.O16) === 0) {
            cpu.push32((m & M.MEM) !== 0 ? mmu.rd32(cpu.linR(p, 4)) : regs[(m >> 3) & 7]);
            continue;
          }
          break;
        case H.XCHG_AX:
          if ((m & M.O16) === 0) {
            const rm = (m >> 3) & 7;
            const t = regs[0];
            regs[0] = regs[rm];
            regs[rm] = t;
            continue;
          }
          break;
        case H.NOP:
          continue;
        case H.JMP_J:
          cpu.eip = ops.jumpTarget(beip, code[p + R.IMM], m);
          jumped = true;
          break block;
        case H.CALL_J:
          if ((m & M.O16) === 0) {
            cpu.push32(ops.nextEip(cpu, beip, p));
            cpu.eip = (beip + code[p + R.IMM]) | 0;
            jumped = true;
            break block;
          }
          break;
        case H.RET:
          if ((m & M.O16) === 0) {
            cpu.eip = cpu.pop32();
            jumped = true;
            break block;
          }
          break;
        case H.JMP_Ev:
          if ((m & M.O16) === 0) {
            cpu.eip = (m & M.MEM) !== 0 ? mmu.rd32(cpu.linR(p, 4)) : regs[(m >> 3) & 7];
            jumped = true;
            break block;
          }
          break;
        case H.CALL_Ev:
          if ((m & M.O16) === 0) {
            const t = (m & M.MEM) !== 0 ? mmu.rd32(cpu.linR(p, 4)) : regs[(m >> 3) & 7];
            cpu.push32(ops.nextEip(cpu, beip, p));
            cpu.eip = t;
            jumped = true;
            break block;
          }
          break;
        case H.EXIT:
          // The previous instruction overwrote this block: leave it before running stale records.
          cpu.eip = ops.curEip(cpu, beip, p);
          n = (p - start) >> 3;
          jumped = true;
          break block;
        default:
          break;
      }
      if (execSlow(cpu, p, m, h, beip)) {
        jumped = true;
        break;
      }
    }
    if (!jumped) {
      const e = beip + (code[end - STRIDE + R.OFFS] >>> 16);
      cpu.eip = cpu.csD ? e | 0 : e & 0xffff;
    }
    cpu.instructionCount += n;
    // The next block, if nothing needs the run loop first.
    if (!chain || cpu.instructionCount >= target || cpu.halted || cpu.shadow || (cpu.flags & TF) !== 0) break;
    if ((cpu.flags & IF) !== 0 && intr.pending()) break;
    beip = cpu.eip;
    const from = cpu.blockId;
    let next = -1;
    const e = from * B.SIZE;
    if (blk[e + B.LINK_GEN] === mmu.gen) {
      if (blk[e + B.SUCC_EIP] === beip) next = blk[e + B.SUCC_ID];
      else if (blk[e + B.SUCC_EIP2] === beip) next = blk[e + B.SUCC_ID2];
    }
    if (next < 0 || blk[next * B.SIZE + B.VALID] === 0) {
      const lin = (cpu.segBase[CS] + beip) | 0;
      const t = mmu.r[lin >>> 12];
      if (t === -1 || cpu.csLimited || !cache.find((t ^ lin) >>> 0, cpu.csD) || cache.page2 >= 0) break;
      next = cache.id;
      cache.link(from, beip, next);
    }
    start = blk[next * B.SIZE + B.START];
    end = blk[next * B.SIZE + B.END];
    cpu.blockStart = start;
    cpu.blockId = next;
    cpu.blockEip = beip;
  }
  cpu.ip = -1;
}
