/**
 * CPU core benchmark: boots small CPU-bound flat binaries (assembled with
 * nasm) in the TS core, paging on as in a kernel, and prints MIPS: guest
 * instructions per second of this process's CPU time (so a busy, shared
 * machine skews the figure less than wall time would), and per wall second.
 *
 *   npx tsc -p . && node dist/scripts/bench-cpu.js [seconds-per-kernel]
 */
import { performance } from 'node:perf_hooks';
import { assemble, boot, makeMachine } from '../test/system/harness';
import { RunExit } from '../src/guest/cpu/cpu';

const PROLOGUE = `
bits 32
org 0x100000
  ; identity-map the first 16 MiB with 4 KiB pages, as a kernel would run
  mov edi, 0x200000          ; page directory
  mov ecx, 1024
  xor eax, eax
  rep stosd
  mov edi, 0x201000          ; 4 page tables
  mov eax, 0x3
  mov ecx, 4096
fill:
  stosd
  add eax, 0x1000
  loop fill
  mov dword [0x200000], 0x201003
  mov dword [0x200004], 0x202003
  mov dword [0x200008], 0x203003
  mov dword [0x20000c], 0x204003
  mov eax, 0x200000
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80010000
  mov cr0, eax
  jmp start
`;

const KERNELS: Record<string, string> = {
  'register ALU loop': `
start:
  mov ecx, 0x7fffffff
  xor eax, eax
  mov ebx, 0x12345
.l:
  add eax, ebx
  xor ebx, eax
  shl eax, 1
  lea edx, [eax + ebx*2 + 7]
  sub edx, ecx
  dec ecx
  jnz .l
  hlt`,
  'memory sum/store': `
start:
  mov ebp, 0x7fffffff
.outer:
  mov esi, 0x400000
  mov ecx, 1024
  xor eax, eax
.l:
  add eax, [esi]
  mov [esi + 4096], eax
  add esi, 4
  dec ecx
  jnz .l
  dec ebp
  jnz .outer
  hlt`,
  'call/ret + push/pop': `
start:
  mov ecx, 0x7fffffff
.l:
  push ecx
  call fn
  pop ecx
  dec ecx
  jnz .l
  hlt
fn:
  push ebp
  mov ebp, esp
  mov eax, [ebp + 8]
  imul eax, eax, 3
  cmp eax, 100
  jb .small
  movzx edx, al
  add eax, edx
.small:
  pop ebp
  ret`,
  'sieve (byte array, branches)': `
start:
.again:
  mov edi, 0x400000
  mov ecx, 65536
  mov al, 1
  rep stosb
  mov ebx, 2
.outer:
  cmp byte [0x400000 + ebx], 0
  je .next
  mov edx, ebx
  add edx, ebx
.inner:
  cmp edx, 65536
  jae .next
  mov byte [0x400000 + edx], 0
  add edx, ebx
  jmp .inner
.next:
  inc ebx
  cmp ebx, 256
  jb .outer
  jmp .again`,
};

/**
 * A reference speed for the host: dispatches per CPU second of a trivial
 * switch loop over a typed array, the shape of the interpreter's inner loop.
 * On a busy or slow host both this and the MIPS above drop; their ratio is
 * the figure to compare across machines.
 */
function hostReference(): number {
  const ops = new Int32Array(64).map((_, i) => i & 3);
  const regs = new Int32Array(4);
  const rounds = 1_000_000;
  const cpu0 = process.cpuUsage();
  for (let k = 0; k < rounds; k++) {
    for (let p = 0; p < 64; p++) {
      switch (ops[p]) {
        case 0: regs[0] = (regs[0] + regs[1]) | 0; break;
        case 1: regs[1] ^= regs[0]; break;
        case 2: regs[2] = (regs[2] - 1) | 0; break;
        default: regs[3]++;
      }
    }
  }
  const used = process.cpuUsage(cpu0);
  return (rounds * 64) / (used.user + used.system);
}

function main(): void {
  const seconds = Number(process.argv[2] ?? '2');
  let total = 0;
  let n = 0;
  for (const [name, body] of Object.entries(KERNELS)) {
    const m = makeMachine(32 << 20);
    boot(m, assemble(PROLOGUE + body));
    m.cpu.run(200_000); // warm up: page tables built, blocks decoded, JIT tiered up
    const startCount = m.cpu.instructionCount;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < seconds * 1000) {
      if (m.cpu.run(2_000_000) === RunExit.Halt) throw new Error(`${name}: guest halted`);
      t = performance.now();
    }
    const used = process.cpuUsage(cpu0);
    const insns = m.cpu.instructionCount - startCount;
    const mips = insns / (used.user + used.system);
    total += mips;
    n++;
    console.log(`${name.padEnd(32)} ${mips.toFixed(1).padStart(7)} MIPS (${(insns / ((t - t0) * 1000)).toFixed(1)} per wall second)`);
  }
  console.log(`${'mean'.padEnd(32)} ${(total / n).toFixed(1).padStart(7)} MIPS`);
  const ref = hostReference();
  console.log(`host reference: ${ref.toFixed(0)} M switch dispatches per CPU second (mean MIPS / reference = ${(total / n / ref).toFixed(3)})`);
}

main();
