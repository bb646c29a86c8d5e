/**
 * EFLAGS bits, shared by the CPU core, the FPU (fcomi, fcmov) and the
 * conformance tests, so that everyone names the same bit the same way.
 */
export const CF = 0x1;
export const PF = 0x4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const TF = 0x100;
export const IF = 0x200;
export const DF = 0x400;
export const OF = 0x800;
export const IOPL = 0x3000;
export const IOPL_SHIFT = 12;
export const NT = 0x4000;
export const RF = 0x10000;
export const VM = 0x20000;
export const AC = 0x40000;
export const VIF = 0x80000;
export const VIP = 0x100000;
export const ID = 0x200000;

/** The six arithmetic status flags that ALU instructions compute. */
export const ARITH = CF | PF | AF | ZF | SF | OF;

/** Bit 1 of EFLAGS always reads as one. */
export const FIXED_ONE = 0x2;

/**
 * Bits a P6 lets software change at all. VIF/VIP belong to VME, which this
 * core does not implement (CPUID says so), so they stay zero.
 */
export const WRITABLE = ARITH | TF | IF | DF | IOPL | NT | RF | VM | AC | ID;
