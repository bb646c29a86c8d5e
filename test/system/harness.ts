import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BootState } from '../../src/guest/boot-state';
import { VirtualClock } from '../../src/guest/clock';
import { Cpu, RunExit } from '../../src/guest/cpu/cpu';
import { InterruptLine } from '../../src/guest/interrupts';
import { IoBus } from '../../src/guest/io-bus';
import { GuestMemory } from '../../src/guest/memory';

/**
 * Small guests for the CPU tests: assemble with nasm, load into a fresh
 * GuestMemory, enter as a loader would (32-bit protected mode, paging off,
 * flat CS=0x10 DS=0x18 from a GDT in memory), run until hlt.
 */

export const GDT_BASE = 0x1000;
export const LOAD_ADDR = 0x100000;
export const STACK_TOP = 0x90000;

const cacheDir = join(tmpdir(), 'lguest-cpu-test-nasm');

/** Assemble `source` (nasm syntax) to a flat binary; results are cached by content. */
export function assemble(source: string): Buffer {
  if (!existsSync(cacheDir)) mkdirSync(cacheDir, { recursive: true });
  const key = createHash('sha256').update(source).digest('hex').slice(0, 24);
  const out = join(cacheDir, `${key}.bin`);
  if (!existsSync(out)) {
    const src = join(cacheDir, `${key}.asm`);
    writeFileSync(src, source);
    execFileSync('nasm', ['-f', 'bin', '-o', out, src], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  return readFileSync(out);
}

/** An interrupt line the tests control: raise(vector) makes it pending until acknowledged. */
export class TestInterrupts implements InterruptLine {
  private queue: number[] = [];
  raise(vector: number): void {
    this.queue.push(vector);
  }
  pending(): boolean {
    return this.queue.length > 0;
  }
  acknowledge(): number {
    return this.queue.shift() ?? 0;
  }
}

export interface TestMachine {
  cpu: Cpu;
  mem: GuestMemory;
  bus: IoBus;
  intr: TestInterrupts;
  clock: VirtualClock;
}

export function makeMachine(memBytes = 16 << 20): TestMachine {
  const mem = GuestMemory.create(memBytes);
  const bus = new IoBus();
  const intr = new TestInterrupts();
  const clock = new VirtualClock(1);
  const cpu = new Cpu(mem, bus, intr, clock);
  return { cpu, mem, bus, intr, clock };
}

/**
 * Run a guest twice, interpreted only and with every block translated to
 * JavaScript on its first run, and check both end in the same state: every
 * guest these tests run then covers the translator too. Returns the
 * interpreted machine. `setup` prepares each fresh machine (devices) before
 * `start` loads and runs it.
 */
export function runBothWays(setup: () => TestMachine, start: (m: TestMachine) => void): TestMachine {
  const interpreted = setup();
  interpreted.cpu.compileAfter = Infinity;
  start(interpreted);
  const translated = setup();
  translated.cpu.compileAfter = 1;
  start(translated);
  const a = interpreted.cpu;
  const b = translated.cpu;
  const state = (c: Cpu): string =>
    JSON.stringify({ regs: Array.from(c.regs), eip: c.eip, eflags: c.getEflags(), cr2: c.cr2, count: c.instructionCount });
  if (state(a) !== state(b)) {
    throw new Error(`translated run differs from the interpreted one:\n  interpreted ${state(a)}\n  translated  ${state(b)}`);
  }
  if (Buffer.compare(interpreted.mem.u8, translated.mem.u8) !== 0) {
    let i = 0;
    while (interpreted.mem.u8[i] === translated.mem.u8[i]) i++;
    throw new Error(`translated run left different memory, first at 0x${i.toString(16)}`);
  }
  return interpreted;
}

/** Write a flat code (0x10) and data (0x18) descriptor pair, as the Linux loader does. */
export function writeLoaderGdt(mem: GuestMemory): void {
  const v = mem.view;
  v.setUint32(GDT_BASE + 0x10, 0x0000ffff, true);
  v.setUint32(GDT_BASE + 0x14, 0x00cf9a00, true);
  v.setUint32(GDT_BASE + 0x18, 0x0000ffff, true);
  v.setUint32(GDT_BASE + 0x1c, 0x00cf9200, true);
}

/** The state a loader enters a guest at `eip` in: flat 32-bit protected mode (writeLoaderGdt's selectors), paging off. */
export function loaderBootState(eip = LOAD_ADDR): BootState {
  return {
    eip, eax: 0, ebx: 0, ecx: 0, edx: 0, esi: 0, edi: 0, ebp: 0, esp: STACK_TOP,
    eflags: 0x2, cr0: 0x11, cr3: 0, cr4: 0,
    gdtBase: GDT_BASE, gdtLimit: 0x1f, cs: 0x10, ds: 0x18,
  };
}

/** Load `code` at `addr` and enter it in flat 32-bit protected mode, paging off. */
export function boot(m: TestMachine, code: Uint8Array, addr = LOAD_ADDR): void {
  m.mem.u8.set(code, addr);
  writeLoaderGdt(m.mem);
  m.cpu.reset(loaderBootState(addr));
}

/** Assemble a guest (`bits 32` and `org LOAD_ADDR` are prepended), boot it, run it to hlt. */
export function runGuest(source: string, opts: { maxInstructions?: number } = {}): TestMachine {
  const image = assemble(`bits 32\norg 0x${LOAD_ADDR.toString(16)}\n${source}\n`);
  return runBothWays(makeMachine, (m) => {
    boot(m, image);
    runToHalt(m, opts.maxInstructions);
  });
}

export function runToHalt(m: TestMachine, maxInstructions = 5_000_000): void {
  if (m.cpu.run(maxInstructions) !== RunExit.Halt) {
    throw new Error(`guest did not halt within ${maxInstructions} instructions (eip=0x${(m.cpu.eip >>> 0).toString(16)})`);
  }
}
