import { strict as assert } from 'node:assert';
import { assemble, boot, makeMachine, runToHalt, TestMachine } from './harness';
import { PAGE_TABLES, PRELUDE } from './prelude';

/**
 * Compiled regions (src/guest/cpu/wasm) against the interpreter on guests
 * built to catch them out: a fault deep inside a region, code rewritten by a
 * device and by the region itself. Each guest runs interpreted and with
 * every page compiled on first use; both must end in the same state, and
 * the compiled run must really have run regions.
 */

const pte = (addr: number): number => PAGE_TABLES + (addr >>> 12) * 4;
const OUT = 0x90000;

interface Runs {
  interpreted: TestMachine;
  compiled: TestMachine;
}

function state(m: TestMachine): string {
  const c = m.cpu;
  return JSON.stringify({ regs: Array.from(c.regs), eip: c.eip, eflags: c.getEflags(), cr2: c.cr2, count: c.instructionCount });
}

function runTwice(body: string, after?: (m: TestMachine) => void): Runs {
  const image = assemble(`${PRELUDE}\n${body}\n`);
  const run = (compileAfter: number): TestMachine => {
    const m = makeMachine();
    m.cpu.compileAfter = compileAfter;
    boot(m, image);
    runToHalt(m);
    after?.(m);
    return m;
  };
  const interpreted = run(Infinity);
  const compiled = run(1);
  assert.ok(compiled.cpu.regions.compiled > 0, 'no region was compiled');
  assert.equal(state(compiled), state(interpreted));
  assert.ok(Buffer.compare(compiled.mem.u8, interpreted.mem.u8) === 0, 'memory differs');
  return { interpreted, compiled };
}

const u32 = (m: TestMachine, a: number): number => m.mem.view.getUint32(a, true);

describe('compiled regions', () => {
  it('a page fault on a store deep in a region leaves registers and flags as before that instruction', () => {
    // Each pass updates registers and flags, then adds to a page that is
    // not present on the 5th pass: the handler records what it sees (the
    // registers, the pushed EFLAGS and EIP), maps the page and returns, so
    // the add runs again with the carry it had before.
    const { compiled } = runTwice(`
test_main:
  call enable_paging
  SET_GATE 14, pf_handler, 0x8E
  mov dword [0x500000], 0x7fffffff
  mov ecx, 8
  xor ebx, ebx
  xor edi, edi
  mov eax, 0x80000001
.pass:
  cmp ecx, 4
  jne .mapped
  mov dword [${pte(0x500000)}], 0
  invlpg [0x500000]
.mapped:
  add ebx, 3
  lea edx, [ebx + ecx*4 + 1]
  mov esi, 0xffffffff
  add esi, ecx                          ; CF set: the add below must not see it changed
  inc edi
  add [0x500000], eax
  dec ecx
  jnz .pass
  mov eax, [0x500000]
  hlt
pf_handler:
  mov [${OUT}], ebx
  mov [${OUT + 4}], edx
  mov [${OUT + 8}], esi
  mov [${OUT + 12}], edi
  mov [${OUT + 16}], ecx
  mov eax, [esp + 4]
  mov [${OUT + 20}], eax                ; EIP of the fault
  mov eax, [esp + 12]
  mov [${OUT + 24}], eax                ; EFLAGS before the add
  mov eax, 0x80000001
  mov dword [${pte(0x500000)}], 0x500007
  invlpg [0x500000]
  add esp, 4
  iretd`);
    assert.equal(u32(compiled, OUT + 16), 4, 'the fault came on the 5th pass');
    assert.equal(u32(compiled, OUT + 12), 5, 'inc edi ran five times');
    // inc edi (5: PF) keeps the CF of add esi, ecx; the faulting add must not have changed them.
    assert.equal(u32(compiled, OUT + 24) & 0x8d5, 0x05);
    assert.equal(compiled.cpu.regs[0], (0x7fffffff + 8 * 0x80000001) | 0);
  });

  it('drops a region when a device writes its page, and runs the new code', () => {
    // The guest calls a function 100 times and halts; the "device" rewrites
    // the function's immediate; the guest goes on and calls it again.
    const { compiled } = runTwice(
      `
test_main:
  mov ecx, 100
.l:
  call 0x300000
  dec ecx
  jnz .l
  mov [${OUT}], eax
  hlt
  mov ecx, 100
.l2:
  call 0x300000
  dec ecx
  jnz .l2
  mov [${OUT + 4}], eax
  hlt
times 0x300000 - 0x100000 - ($ - $$) db 0
  mov eax, 1
  ret`,
      (m) => {
        m.mem.u8[0x300001] = 5;
        m.cpu.invalidatePhys(0x300000, 16);
        m.cpu.halted = false;
        runToHalt(m);
      },
    );
    assert.equal(u32(compiled, OUT), 1);
    assert.equal(u32(compiled, OUT + 4), 5);
  });

  it('stops a region that rewrites its own code and runs what it wrote', () => {
    // The loop patches the immediate of an instruction ahead of it in the
    // same page, every pass: each pass must see the value just written.
    const { compiled } = runTwice(`
test_main:
  xor ebx, ebx
  mov ecx, 50
smc_loop:
  mov [smc_patch + 1], ecx
smc_patch:
  mov eax, 0
  add ebx, eax
  dec ecx
  jnz smc_loop
  mov [${OUT}], ebx
  hlt`);
    assert.equal(u32(compiled, OUT), (50 * 51) / 2);
  });

  it('folds flags the way the interpreter computes them: every condition and pushf after each flag-setting operation', () => {
    // One straight block per (operation, operands): the operation, then a
    // rotate (CF and OF only) or nothing, then pushf and all sixteen setcc
    // into memory. Flags inside a block are what the compiler folds itself.
    const ops = ['add eax, ebx', 'sub eax, ebx', 'cmp eax, ebx', 'and eax, ebx', 'xor eax, ebx', 'or al, bl', 'cmp al, bl',
      'inc eax', 'dec eax', 'neg eax', 'adc eax, ebx', 'sbb eax, ebx', 'shl eax, 3', 'shr eax, 1', 'sar eax, 7',
      'imul eax, ebx', 'test eax, ebx', 'mul ebx', 'cmp ax, bx', 'add ax, bx'];
    const values = [0, 1, 0x7f, 0x80, 0xff, 0x7fffffff, 0x80000000, 0xffffffff, 0x12345678, 0xfffffffe];
    const lines: string[] = ['test_main:', `  mov edi, ${OUT}`];
    let n = 0;
    for (const op of ops) {
      for (const tail of ['', 'rol eax, 5', 'ror eax, 1']) {
        for (let i = 0; i < values.length; i += 3) {
          const a = values[i];
          const b = values[(i * 7 + 3) % values.length];
          lines.push(`  mov eax, ${a}`, `  mov ebx, ${b}`, '  stc', `  jmp b${n}`, `b${n}:`, `  ${op}`);
          if (tail) lines.push(`  ${tail}`);
          lines.push('  pushfd', '  pop dword [edi]', '  mov [edi + 4], eax');
          for (let cc = 0; cc < 16; cc++) lines.push(`  set${['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'][cc]} [edi + ${8 + cc}]`);
          lines.push('  add edi, 24');
          n++;
        }
      }
    }
    lines.push('  hlt');
    const { compiled } = runTwice(lines.join('\n'));
    assert.ok(u32(compiled, OUT) !== 0);
  });
});
