/**
 * Where things live, shared by the native oracle (passed to gcc as -D flags)
 * and the TypeScript side, so a case means the same on both.
 *
 * The native runner maps only the code page and the scratch area. The core
 * additionally needs descriptor tables, a TSS, exception handlers and a
 * ring-0 stack to run a ring-3 instruction and see its exceptions; those live
 * below CODE_ADDR, where no case can reach them.
 */
export const CODE_ADDR = 0x200000;
/** Two pages, so that an instruction can straddle a page boundary. */
export const CODE_SIZE = 0x2000;
/** The usual place of the instruction: mid-page, so branches either way stay inside the area. */
export const CODE_OFFSET = 0x800;
/** The page boundary inside the code area. */
export const CODE_PAGE_END = 0x1000;
export const MAX_CODE = 32;
export const SCRATCH_ADDR = 0x300000;
/** 64 KiB: every 16-bit offset in the LDT segment based here is real memory. */
export const SCRATCH_SIZE = 0x10000;
export const FPU_IMAGE = 108;

/** Linux's user selectors on an x86-64 kernel (GDT entries 4 and 5, RPL 3). */
export const USER_CS = 0x23;
export const USER_DS = 0x2b;
/** LDT entry 0, RPL 3: a data segment based at SCRATCH_ADDR (16-bit addressing cases). */
export const LDT_SEL = 0x07;

/** Case flags (wire format). */
export const CASE_FPU = 1;
export const CASE_LDT = 2;

/** Seed of the scratch area's pattern, the contents every case starts from before its patches. */
export const PATTERN_SEED = 0x2545f491;

/** The scratch pattern: xorshift32 words (runner.c has the same loop). */
export function fillPattern(dst: Uint8Array): void {
  const v = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  let x = PATTERN_SEED;
  for (let i = 0; i < SCRATCH_SIZE; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    v.setUint32(i, x, true);
  }
}
