/**
 * The TypeScript side of a case: the same bytes, registers, flags, memory and
 * x87 image, run by the core in the same situation as the native runner's
 * instruction, a ring-3 process in flat 32-bit protected mode.
 *
 * Why ring 3: privileged instructions then fault as they do for the host
 * process, push cs/pop ss see the same selectors, and every case ends the
 * same way on both sides, through an exception taken to ring 0.
 *
 * The core needs the environment a kernel gives a process, so it is built
 * below CODE_ADDR: a GDT laid out like the host kernel's (user code 0x23,
 * user data 0x2b, kernel selectors below, TSS at 0x38, LDT at 0x48), the LDT
 * segment the runner creates with modify_ldt, an IDT whose gates lead to one
 * `hlt` per vector (int3 and into usable from ring 3, as on Linux), a TSS for
 * the ring-0 stack, and a few ring-0 instructions that load all that and
 * `iret` to the case. After the run, the vector is the handler's address,
 * and the ring-0 stack holds the ring-3 EIP, CS, EFLAGS, ESP and SS.
 */
import { BootState } from '../../src/guest/boot-state';
import { VirtualClock } from '../../src/guest/clock';
import { GuestError } from '../../src/guest/guest-error';
import { InterruptLine } from '../../src/guest/interrupts';
import { IoBus } from '../../src/guest/io-bus';
import { GuestMemory } from '../../src/guest/memory';
import { Cpu, RunExit } from '../../src/guest/cpu/cpu';
import {
  CODE_ADDR, CODE_SIZE, FPU_IMAGE, LDT_SEL, SCRATCH_ADDR, SCRATCH_SIZE, USER_CS, USER_DS, fillPattern,
} from './layout';
import type { Case, EndState } from './wire';

const MEM_SIZE = 4 << 20;
const GDT = 0x1000;
const IDT = 0x1800;
const TSS = 0x2000;
const LDT = 0x2100;
const VARS = 0x2200; // IDTR image, then the LDT, TSS and data selectors
const FPU_AT = 0x2400;
const BOOT = 0x3000;
const HANDLERS = 0x3100;
const RING0_TOP = 0x5000;
const KERNEL_CS = 0x10;
const KERNEL_DS = 0x18;
const TSS_SEL = 0x38;
const LDT_DESC_SEL = 0x48;
/** PE MP ET NE AM: what Linux runs user processes with (paging aside). */
const CR0 = 0x1 | 0x2 | 0x10 | 0x20 | 0x40000;

/** Segment descriptor words from base, limit (in the descriptor's units) and the high-dword flag bits. */
function descriptor(base: number, limit: number, access: number, flags: number): [number, number] {
  const lo = ((base & 0xffff) << 16) | (limit & 0xffff);
  const hi = (base & 0xff000000) | (flags << 20) | (limit & 0xf0000) | (access << 8) | ((base >>> 16) & 0xff);
  return [lo >>> 0, hi >>> 0];
}

/** Ring-0 code at BOOT; the FPU variant starts with frstor. Absolute operands only: no register is touched. */
function bootCode(): number[] {
  const abs = (a: number): number[] => [a & 0xff, (a >> 8) & 0xff, (a >> 16) & 0xff, a >>> 24];
  return [
    0xdd, 0x25, ...abs(FPU_AT), //         frstor [FPU_AT]
    0x0f, 0x01, 0x1d, ...abs(VARS), //     lidt [VARS]
    0x0f, 0x00, 0x15, ...abs(VARS + 8), // lldt [VARS+8]
    0x0f, 0x00, 0x1d, ...abs(VARS + 10), // ltr [VARS+10]
    0x8e, 0x05, ...abs(VARS + 12), //      mov es, [VARS+12]
    0x8e, 0x25, ...abs(VARS + 12), //      mov fs, ...
    0x8e, 0x2d, ...abs(VARS + 12), //      mov gs, ...
    0x8e, 0x1d, ...abs(VARS + 12), //      mov ds, ... (last: it may rebase DS)
    0xcf, //                               iretd to the case, in ring 3
  ];
}
const BOOT_CODE = bootCode();
const BOOT_NO_FPU = BOOT + 6;

export class CoreMachine {
  readonly mem = GuestMemory.create(MEM_SIZE);
  readonly cpu: Cpu;
  private readonly view = this.mem.view;
  private readonly u8 = this.mem.u8;
  private readonly pristine = new Uint8Array(SCRATCH_SIZE);
  private readonly initial = new Uint8Array(SCRATCH_SIZE);
  private readonly scratch = this.mem.u8.subarray(SCRATCH_ADDR, SCRATCH_ADDR + SCRATCH_SIZE);

  constructor() {
    const never: InterruptLine = { pending: () => false, acknowledge: () => 0 };
    this.cpu = new Cpu(this.mem, new IoBus(), never, new VirtualClock(1));
    fillPattern(this.pristine);
    this.scratch.set(this.pristine);
    this.initial.set(this.pristine);
  }

  private w32(a: number, v: number): void {
    this.view.setUint32(a, v >>> 0, true);
  }

  private w16(a: number, v: number): void {
    this.view.setUint16(a, v, true);
  }

  /** Descriptor tables, TSS and boot code; rewritten per case (the CPU sets busy and accessed bits). */
  private writeSystem(dataSel: number): void {
    const gdt: [number, number][] = [
      [0, 0],
      descriptor(0, 0xfffff, 0x9b, 0xc), // 0x08 kernel code
      descriptor(0, 0xfffff, 0x9b, 0xc), // 0x10 kernel code (the boot code runs here)
      descriptor(0, 0xfffff, 0x93, 0xc), // 0x18 kernel data
      descriptor(0, 0xfffff, 0xfb, 0xc), // 0x23 user code
      descriptor(0, 0xfffff, 0xf3, 0xc), // 0x2b user data
      descriptor(0, 0xfffff, 0xfb, 0xa), // 0x33 the host's 64-bit user code (L set, D clear)
      descriptor(TSS, 0x67, 0x89, 0), //    0x38 TSS
      [0, 0],
      descriptor(LDT, 7, 0x82, 0), //       0x48 LDT
    ];
    for (let i = 0; i < 16; i++) {
      const [lo, hi] = gdt[i] ?? [0, 0];
      this.w32(GDT + 8 * i, lo);
      this.w32(GDT + 8 * i + 4, hi);
    }
    // The runner's modify_ldt entry: 4 GiB of writable data at the scratch area, accessed.
    const [llo, lhi] = descriptor(SCRATCH_ADDR, 0xfffff, 0xf3, 0xc);
    this.w32(LDT, llo);
    this.w32(LDT + 4, lhi);
    for (let v = 0; v < 32; v++) {
      const h = HANDLERS + v;
      const dpl = v === 3 || v === 4 ? 3 : 0;
      this.w32(IDT + 8 * v, (KERNEL_CS << 16) | (h & 0xffff));
      this.w32(IDT + 8 * v + 4, (h & 0xffff0000) | 0x8e00 | (dpl << 13));
      this.u8[h] = 0xf4; // hlt
    }
    this.u8.fill(0, TSS, TSS + 0x68);
    this.w32(TSS + 4, RING0_TOP);
    this.w32(TSS + 8, KERNEL_DS);
    this.w16(TSS + 0x66, 0x68); // I/O bitmap beyond the limit: every port access from ring 3 is #GP
    this.w16(VARS, 32 * 8 - 1);
    this.w32(VARS + 2, IDT);
    this.w16(VARS + 8, LDT_DESC_SEL);
    this.w16(VARS + 10, TSS_SEL);
    this.w16(VARS + 12, dataSel);
    this.u8.set(BOOT_CODE, BOOT);
  }

  run(c: Case): EndState {
    const sel = c.ldt ? LDT_SEL : USER_DS;
    this.writeSystem(sel);
    if (c.fpu) this.u8.set(c.fpu, FPU_AT);
    this.u8.fill(0xcc, CODE_ADDR, CODE_ADDR + CODE_SIZE);
    this.u8.set(c.code, CODE_ADDR + c.codeOffset);
    for (const p of c.patches) {
      this.scratch.set(p.bytes, p.offset);
      this.initial.set(p.bytes, p.offset);
    }
    // The iret frame that enters the case.
    const frame = RING0_TOP - 20;
    this.w32(frame, CODE_ADDR + c.codeOffset);
    this.w32(frame + 4, USER_CS);
    this.w32(frame + 8, c.eflags | 0x202);
    this.w32(frame + 12, c.regs[4]);
    this.w32(frame + 16, sel);
    const r = c.regs;
    const boot: BootState = {
      eip: c.fpu ? BOOT : BOOT_NO_FPU, eax: r[0], ecx: r[1], edx: r[2], ebx: r[3], esp: frame, ebp: r[5], esi: r[6],
      edi: r[7], eflags: 0x2, cr0: CR0, cr3: 0, cr4: 0, gdtBase: GDT, gdtLimit: 16 * 8 - 1, cs: KERNEL_CS, ds: KERNEL_DS,
    };
    const cpu = this.cpu;
    let end: EndState;
    try {
      cpu.reset(boot);
      let exit = RunExit.Budget;
      for (let n = 0; n < 20 && exit !== RunExit.Halt; n++) exit = cpu.run(100000);
      end = exit === RunExit.Halt ? this.endState(c) : this.stuck(c, -2);
    } catch (e) {
      if (!(e instanceof GuestError)) throw e;
      end = this.stuck(c, -3);
      end.message = e.message.split('\n')[0];
    }
    this.restoreScratch(c, end);
    return end;
  }

  /** The state at the exception that ended the case, read back from the ring-0 stack. */
  private endState(c: Case): EndState {
    const cpu = this.cpu;
    const vector = cpu.eip - 1 - HANDLERS;
    const sp = cpu.regs[4] >>> 0;
    const v = this.view;
    // Ring 3 -> ring 0 pushes SS ESP EFLAGS CS EIP [error code]: 20 or 24 bytes below the TSS's ESP0.
    const hasErr = RING0_TOP - sp === 24;
    const f = hasErr ? sp + 4 : sp;
    if (vector < 0 || vector >= 32 || (RING0_TOP - sp !== 20 && !hasErr)) {
      const s = this.stuck(c, -4);
      s.message = `the boot code faulted in ring 0 (vector ${vector})`;
      return s;
    }
    const regs = new Uint32Array(8);
    for (let i = 0; i < 8; i++) regs[i] = cpu.regs[i];
    regs[4] = v.getUint32(f + 12, true);
    const segs = new Uint16Array(6);
    segs[0] = v.getUint32(f + 4, true) & 0xffff;
    segs[1] = v.getUint32(f + 16, true) & 0xffff;
    segs[2] = cpu.getSegment(3).selector;
    segs[3] = cpu.getSegment(0).selector;
    segs[4] = cpu.getSegment(4).selector;
    segs[5] = cpu.getSegment(5).selector;
    return {
      vector,
      err: hasErr ? v.getUint32(sp, true) : 0,
      regs,
      eip: v.getUint32(f, true),
      eflags: v.getUint32(f + 8, true),
      segs,
      memDiff: new Uint32Array(0),
      fpu: c.fpu ? cpu.fpu.saveState().slice(0, FPU_IMAGE) : undefined,
    };
  }

  /** An end state for a case that never reached its end (budget, triple fault, ring-0 fault). */
  private stuck(c: Case, vector: number): EndState {
    const cpu = this.cpu;
    const regs = new Uint32Array(8);
    for (let i = 0; i < 8; i++) regs[i] = cpu.regs[i];
    const segs = new Uint16Array(6);
    [1, 2, 3, 0, 4, 5].forEach((s, i) => (segs[i] = cpu.getSegment(s).selector));
    return { vector, err: 0, regs, eip: cpu.eip >>> 0, eflags: cpu.getEflags(), segs, memDiff: new Uint32Array(0),
      fpu: c.fpu ? cpu.fpu.saveState().slice(0, FPU_IMAGE) : undefined };
  }

  /** Records which scratch bytes the case changed, then restores the pattern for the next case. */
  private restoreScratch(c: Case, end: EndState): void {
    const s = this.scratch, init = this.initial, pristine = this.pristine;
    const s32 = new Uint32Array(s.buffer, s.byteOffset, SCRATCH_SIZE / 4);
    const i32 = new Uint32Array(init.buffer, init.byteOffset, SCRATCH_SIZE / 4);
    const diffs: number[] = [];
    for (let w = 0; w < s32.length; w++) {
      if (s32[w] === i32[w]) continue;
      for (let b = 4 * w; b < 4 * w + 4; b++) if (s[b] !== init[b]) diffs.push(b | (s[b] << 16));
    }
    end.memDiff = Uint32Array.from(diffs);
    for (const d of diffs) s[d & 0xffff] = pristine[d & 0xffff];
    for (const p of c.patches) {
      s.set(pristine.subarray(p.offset, p.offset + p.bytes.length), p.offset);
      init.set(pristine.subarray(p.offset, p.offset + p.bytes.length), p.offset);
    }
  }
}
