import { CPU_STATE_BYTES, GuestMemory } from '../memory';

/**
 * Where the CPU keeps the state that compiled code (cpu/wasm) and the
 * interpreter share: in the guest's WebAssembly memory, right after RAM.
 * The interpreter sees it through typed-array views, compiled code through
 * loads and stores at `base + offset`, so there is one copy.
 *
 * Byte offsets from the start of the state block:
 */
export const enum S {
  /** EAX..EDI and an always-zero ninth slot (Cpu.eaRegs). */
  REGS = 0,
  /** Segment bases, ES CS SS DS FS GS (int32). */
  SEG_BASE = 64,
  /** Highest offset a read / write may end at, as float64 (-1: always check). */
  SEG_RLIM = 128,
  SEG_WLIM = 192,
  /** Lazy flags while compiled code runs (alu.ts): flags, lop, lres, la, lb, lc. */
  FLAGS = 256,
  LOP = 260,
  LRES = 264,
  LA = 268,
  LB = 272,
  LC = 276,
  /** EIP where compiled code stopped. */
  EIP = 280,
  /** Absolute addresses of the current privilege's read and write TLB tables. */
  RTAB = 288,
  WTAB = 292,
  /** Set when a write hit code of the running region: it must stop after the instruction. */
  STOP = 296,
  /** The TLB: four tables of 2^20 int32 (supervisor read, supervisor write, user read, user write). */
  TLB = 4096,
  TLB_TABLE = 4 << 20,
  END = TLB + 4 * TLB_TABLE,
}

/** Views of the state block of `mem` (which must be a WebAssembly memory with room for it). */
export class CpuState {
  readonly base: number;
  readonly i32: Int32Array;

  constructor(readonly mem: GuestMemory) {
    if (!mem.wasm) throw new Error('the CPU needs guest memory inside a WebAssembly memory (GuestMemory.create)');
    if (S.END > CPU_STATE_BYTES) throw new Error('CPU state does not fit CPU_STATE_BYTES');
    this.base = mem.size;
    this.i32 = new Int32Array(mem.buffer, this.base, S.END >> 2);
  }

  int32(offset: number, length: number): Int32Array {
    return new Int32Array(this.mem.buffer, this.base + offset, length);
  }

  float64(offset: number, length: number): Float64Array {
    return new Float64Array(this.mem.buffer, this.base + offset, length);
  }
}
