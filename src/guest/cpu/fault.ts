/**
 * Exceptions inside the core.
 *
 * A fault found deep in an instruction (a page fault in the middle of a
 * string move, a #GP in a segment load) unwinds to the run loop by throwing
 * one preallocated object: no allocation and no stack trace on a path the
 * kernel takes thousands of times a second (rdmsr_safe, demand paging, copy
 * to user). The run loop catches it and delivers the exception through the
 * IDT.
 */
export const enum Vec {
  DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7,
  DF = 8, TS = 10, NP = 11, SS = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18,
}

export class CpuFault {
  vector = 0;
  errorCode = 0;
  hasErrorCode = false;
}

export const FAULT = new CpuFault();

/** Vectors that push an error code. */
export function pushesErrorCode(v: number): boolean {
  return v === Vec.DF || v === Vec.TS || v === Vec.NP || v === Vec.SS || v === Vec.GP || v === Vec.PF || v === Vec.AC;
}

export function fault(vector: number, errorCode = 0): never {
  FAULT.vector = vector;
  FAULT.errorCode = errorCode & 0xffff;
  FAULT.hasErrorCode = pushesErrorCode(vector);
  throw FAULT;
}

/** Page faults carry a full 32-bit-wide error code field (only low bits are used). */
export function pageFault(errorCode: number): never {
  FAULT.vector = Vec.PF;
  FAULT.errorCode = errorCode;
  FAULT.hasErrorCode = true;
  throw FAULT;
}

/** #DF, #TS, #NP, #SS, #GP: the classes that combine into a double fault. */
export function isContributory(v: number): boolean {
  return v === Vec.DE || (v >= Vec.TS && v <= Vec.GP);
}

export const VECTOR_NAMES: Record<number, string> = {
  0: '#DE divide error', 1: '#DB debug', 2: 'NMI', 3: '#BP breakpoint', 4: '#OF overflow',
  5: '#BR bound range', 6: '#UD invalid opcode', 7: '#NM device not available', 8: '#DF double fault',
  10: '#TS invalid TSS', 11: '#NP segment not present', 12: '#SS stack fault',
  13: '#GP general protection', 14: '#PF page fault', 16: '#MF x87 error', 17: '#AC alignment check',
  18: '#MC machine check',
};
