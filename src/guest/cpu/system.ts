import type { Cpu } from './cpu';
import {
  CR0_AM, CR0_CD, CR0_EM, CR0_ET, CR0_MP, CR0_NE, CR0_NW, CR0_PE, CR0_PG, CR0_TS, CR0_WP, CR4_OSFXSR,
  CR4_OSXMMEXCPT, CR4_PCE, CR4_PGE, CR4_PSE, CR4_TSD, CS, SS,
} from './control';
import { fault, Vec } from './fault';
import { IF, RF, VM } from './flags';
import { D_P, D_S, descBase, descDpl, descLimit, descType, fetchDesc, isConforming } from './segments';

/**
 * System instructions: CPUID, MSRs, control and debug registers, the
 * descriptor-table registers, sysenter/sysexit, and the I/O permission check.
 */

export function requireCpl0(cpu: Cpu): void {
  if (cpu.cpl !== 0) fault(Vec.GP, 0);
}

/** Instructions that only exist in protected mode (lar, lsl, verr, verw, arpl, lldt, ltr, sldt, str). */
export function requireProtected(cpu: Cpu): void {
  if (!cpu.protectedMode) fault(Vec.UD);
}

// ---- CPUID ---------------------------------------------------------------------

/** Family 6 model 8 stepping 3: a P6 with the features below and nothing newer. */
export const CPUID_SIGNATURE = 0x683;
export const FEATURES_EDX =
  (1 << 0) | // FPU
  (1 << 3) | // PSE
  (1 << 4) | // TSC
  (1 << 5) | // MSR
  (1 << 8) | // CX8
  (1 << 11) | // SEP (sysenter/sysexit)
  (1 << 13) | // PGE
  (1 << 15) | // CMOV
  (1 << 24); // FXSR

const BRAND = 'lguest TypeScript P6-class CPU';

function str4(s: string, i: number): number {
  let v = 0;
  for (let k = 0; k < 4; k++) v |= (s.charCodeAt(i + k) || 0) << (8 * k);
  return v;
}

/** Highest basic CPUID leaf: 0x15/0x16 describe the TSC's fixed 1 GHz, the rest up to it read as zero. */
const MAX_BASIC_LEAF = 0x16;

export function cpuid(cpu: Cpu): void {
  const r = cpu.regs;
  let leaf = r[0] >>> 0;
  // As Intel parts do, a basic leaf above the maximum answers as the maximum.
  if (leaf > MAX_BASIC_LEAF && leaf < 0x80000000) leaf = MAX_BASIC_LEAF;
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  switch (leaf) {
    case 0:
      a = MAX_BASIC_LEAF;
      b = str4('GenuineIntel', 0);
      d = str4('GenuineIntel', 4);
      c = str4('GenuineIntel', 8);
      break;
    case 1:
      a = CPUID_SIGNATURE;
      d = FEATURES_EDX;
      break;
    case 2:
      // One round of cache descriptors: 16K L1 I and D, 512K L2, 4M-page DTLB.
      a = 0x00000001;
      d = 0x0c040843;
      break;
    case 0x15:
      // TSC = crystal * EBX / EAX with a 1 GHz "crystal": Linux then knows the
      // TSC frequency exactly and needs no calibration against the PIT, which
      // an interpreted CPU would make unreliable.
      a = 1;
      b = 1;
      c = 1000000000;
      break;
    case 0x16:
      a = 1000; // base MHz
      b = 1000; // maximum MHz
      c = 100; // bus MHz
      break;
    case 0x80000000:
      a = 0x80000004;
      break;
    case 0x80000002: case 0x80000003: case 0x80000004: {
      const s = BRAND.padEnd(48, '\0');
      const o = (leaf - 0x80000002) * 16;
      a = str4(s, o);
      b = str4(s, o + 4);
      c = str4(s, o + 8);
      d = str4(s, o + 12);
      break;
    }
    default:
      break;
  }
  r[0] = a;
  r[3] = b;
  r[1] = c;
  r[2] = d;
}

// ---- MSRs ---------------------------------------------------------------------------

const MSR_TSC = 0x10;
const MSR_PLATFORM_ID = 0x17;
const MSR_BIOS_SIGN_ID = 0x8b;
const MSR_SYSENTER_CS = 0x174;
const MSR_SYSENTER_ESP = 0x175;
const MSR_SYSENTER_EIP = 0x176;

export function tsc(cpu: Cpu): number {
  return Math.floor(cpu.clock.nowNs()) + cpu.tscOffset;
}

/** rdmsr: EDX:EAX = MSR[ECX]; an MSR this CPU does not have is #GP(0), which rdmsr_safe expects. */
export function rdmsr(cpu: Cpu): void {
  requireCpl0(cpu);
  const r = cpu.regs;
  let lo = 0;
  let hi = 0;
  switch (r[1] >>> 0) {
    case MSR_TSC: {
      const t = tsc(cpu);
      lo = t % 4294967296;
      hi = Math.floor(t / 4294967296);
      break;
    }
    case MSR_PLATFORM_ID:
    case MSR_BIOS_SIGN_ID:
      break;
    case MSR_SYSENTER_CS:
      lo = cpu.sysenterCs;
      break;
    case MSR_SYSENTER_ESP:
      lo = cpu.sysenterEsp;
      break;
    case MSR_SYSENTER_EIP:
      lo = cpu.sysenterEip;
      break;
    default:
      fault(Vec.GP, 0);
  }
  r[0] = lo | 0;
  r[2] = hi | 0;
}

export function wrmsr(cpu: Cpu): void {
  requireCpl0(cpu);
  const r = cpu.regs;
  const lo = r[0];
  const hi = r[2];
  switch (r[1] >>> 0) {
    case MSR_TSC:
      cpu.tscOffset = (hi >>> 0) * 4294967296 + (lo >>> 0) - Math.floor(cpu.clock.nowNs());
      break;
    case MSR_BIOS_SIGN_ID: // Linux writes 0 here before reading the microcode revision.
      break;
    case MSR_SYSENTER_CS:
      cpu.sysenterCs = lo & 0xffff;
      break;
    case MSR_SYSENTER_ESP:
      cpu.sysenterEsp = lo;
      break;
    case MSR_SYSENTER_EIP:
      cpu.sysenterEip = lo;
      break;
    default:
      fault(Vec.GP, 0);
  }
}

// ---- control and debug registers ------------------------------------------------------

const CR0_WRITABLE = CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_NE | CR0_WP | CR0_AM | CR0_NW | CR0_CD | CR0_PG;
/** CR4 bits for features CPUID reports; the rest (VME, PVI, DE, PAE, MCE...) are #GP. */
const CR4_WRITABLE = CR4_TSD | CR4_PSE | CR4_PGE | CR4_PCE | CR4_OSFXSR | CR4_OSXMMEXCPT;

/** CR1 and CR5-7 do not exist: #UD, which takes precedence over the privilege check. */
function checkCr(cpu: Cpu, n: number): void {
  if (n === 1 || n > 4) fault(Vec.UD);
  requireCpl0(cpu);
}

export function movToCr(cpu: Cpu, n: number, v: number): void {
  checkCr(cpu, n);
  switch (n) {
    case 0:
      if ((v & CR0_PG) !== 0 && (v & CR0_PE) === 0) fault(Vec.GP, 0);
      if ((v & CR0_NW) !== 0 && (v & CR0_CD) === 0) fault(Vec.GP, 0);
      cpu.cr0 = (v & CR0_WRITABLE) | CR0_ET;
      if ((v & CR0_PE) === 0) cpu.setCpl(0);
      break;
    case 2:
      cpu.cr2 = v;
      break;
    case 3:
      cpu.cr3 = v & 0xfffff018;
      break;
    default:
      if (v & ~CR4_WRITABLE) fault(Vec.GP, 0);
      cpu.cr4 = v;
  }
}

export function movFromCr(cpu: Cpu, n: number): number {
  checkCr(cpu, n);
  switch (n) {
    case 0: return cpu.cr0;
    case 2: return cpu.cr2;
    case 3: return cpu.cr3;
    default: return cpu.cr4;
  }
}

/** Debug registers are stored and read back; no hardware breakpoints fire. */
export function movToDr(cpu: Cpu, n: number, v: number): void {
  requireCpl0(cpu);
  const i = n === 4 ? 6 : n === 5 ? 7 : n;
  cpu.dr[i] = v;
}

export function movFromDr(cpu: Cpu, n: number): number {
  requireCpl0(cpu);
  const i = n === 4 ? 6 : n === 5 ? 7 : n;
  if (i === 6) return cpu.dr[6] | 0xffff0ff0;
  if (i === 7) return cpu.dr[7] | 0x400;
  return cpu.dr[i];
}

// ---- descriptor-table registers ------------------------------------------------------------

export function lldt(cpu: Cpu, sel: number): void {
  requireProtected(cpu);
  requireCpl0(cpu);
  const err = sel & 0xfffc;
  if (err === 0) {
    cpu.ldtSel = sel;
    cpu.ldtLimit = -1;
    return;
  }
  if (sel & 4 || !fetchDesc(cpu, sel) || (cpu.dHi & D_S) !== 0 || descType(cpu.dHi) !== 2) fault(Vec.GP, err);
  if ((cpu.dHi & D_P) === 0) fault(Vec.NP, err);
  cpu.ldtSel = sel;
  cpu.ldtBase = descBase(cpu.dLo, cpu.dHi);
  cpu.ldtLimit = descLimit(cpu.dLo, cpu.dHi);
}

export function ltr(cpu: Cpu, sel: number): void {
  requireProtected(cpu);
  requireCpl0(cpu);
  const err = sel & 0xfffc;
  if (err === 0) fault(Vec.GP, 0);
  if (sel & 4 || !fetchDesc(cpu, sel) || (cpu.dHi & D_S) !== 0) fault(Vec.GP, err);
  const type = descType(cpu.dHi);
  if (type !== 1 && type !== 9) fault(Vec.GP, err);
  if ((cpu.dHi & D_P) === 0) fault(Vec.NP, err);
  cpu.mmu.wrSys32((cpu.dAddr + 4) | 0, cpu.dHi | 0x200);
  cpu.trSel = sel;
  cpu.trBase = descBase(cpu.dLo, cpu.dHi);
  cpu.trLimit = descLimit(cpu.dLo, cpu.dHi);
  cpu.trType = type | 2;
}

/** lar (lsl = false) / lsl: the value, or -1 when the selector fails the checks (ZF = 0). */
export function larLsl(cpu: Cpu, sel: number, lsl: boolean): number {
  requireProtected(cpu);
  if ((sel & 0xfffc) === 0 || !fetchDesc(cpu, sel)) return -1;
  const hi = cpu.dHi;
  const dpl = descDpl(hi);
  const rpl = sel & 3;
  if (hi & D_S) {
    if (!(isConforming(hi) && (hi & 0x800) !== 0) && (dpl < cpu.cpl || dpl < rpl)) return -1;
  } else {
    const t = descType(hi);
    const ok = lsl ? t === 1 || t === 2 || t === 3 || t === 9 || t === 0xb : [1, 2, 3, 4, 5, 9, 0xb, 0xc].includes(t);
    if (!ok || dpl < cpu.cpl || dpl < rpl) return -1;
  }
  return lsl ? descLimit(cpu.dLo, hi) : hi & 0x00ffff00;
}

/** verr (write = false) / verw. */
export function verify(cpu: Cpu, sel: number, write: boolean): boolean {
  requireProtected(cpu);
  if ((sel & 0xfffc) === 0 || !fetchDesc(cpu, sel)) return false;
  const hi = cpu.dHi;
  if ((hi & D_S) === 0) return false;
  const type = descType(hi);
  const code = (type & 8) !== 0;
  if (write ? code || (type & 2) === 0 : code && (type & 2) === 0) return false;
  if (code && isConforming(hi)) return true;
  const dpl = descDpl(hi);
  return dpl >= cpu.cpl && dpl >= (sel & 3);
}

// ---- sysenter / sysexit ---------------------------------------------------------------------

/** Flat 4 GiB code/data descriptor caches for sysenter/sysexit (G, D/B, P, S, type). */
const FLAT_CODE = 0xc09b00;
const FLAT_DATA = 0xc09300;
const DPL3 = 0x6000;

export function sysenter(cpu: Cpu): void {
  const cs = cpu.sysenterCs & 0xfffc;
  if (!cpu.protectedMode || cs === 0) fault(Vec.GP, 0);
  cpu.setEflags(cpu.getEflags() & ~(VM | IF | RF));
  cpu.setSeg(CS, cs, 0, 0xffffffff, FLAT_CODE);
  cpu.setSeg(SS, cs + 8, 0, 0xffffffff, FLAT_DATA);
  cpu.setCpl(0);
  cpu.regs[4] = cpu.sysenterEsp;
  cpu.eip = cpu.sysenterEip;
}

export function sysexit(cpu: Cpu): void {
  const cs = cpu.sysenterCs & 0xfffc;
  if (!cpu.protectedMode || cs === 0 || cpu.cpl !== 0) fault(Vec.GP, 0);
  cpu.setSeg(CS, (cs + 16) | 3, 0, 0xffffffff, FLAT_CODE | DPL3);
  cpu.setSeg(SS, (cs + 24) | 3, 0, 0xffffffff, FLAT_DATA | DPL3);
  cpu.setCpl(3);
  cpu.regs[4] = cpu.regs[1];
  cpu.eip = cpu.regs[2];
}

// ---- I/O permission ----------------------------------------------------------------------

/**
 * in/out/ins/outs in protected mode with CPL > IOPL consult the TSS I/O
 * bitmap; every bit covering the access must be clear, else #GP(0).
 */
export function checkIo(cpu: Cpu, port: number, size: number): void {
  if (!cpu.protectedMode || cpu.cpl <= cpu.iopl) return;
  if ((cpu.trType & 8) === 0 || cpu.trLimit < 0x67) fault(Vec.GP, 0);
  const mmu = cpu.mmu;
  const mapBase = mmu.rdSys16((cpu.trBase + 0x66) | 0);
  const off = mapBase + (port >>> 3);
  if (off + 1 > cpu.trLimit) fault(Vec.GP, 0);
  const bits = mmu.rdSys16((cpu.trBase + off) | 0);
  if ((bits >> (port & 7)) & ((1 << size) - 1)) fault(Vec.GP, 0);
}
