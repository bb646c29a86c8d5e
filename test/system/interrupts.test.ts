import { strict as assert } from 'node:assert';
import { RunExit } from '../../src/guest/cpu/cpu';
import { u32 } from './guest';
import { assemble, boot, makeMachine } from './harness';
import { PRELUDE } from './prelude';

const OUT = 0x81000;
const out = (i: number): number => OUT + 4 * i;

describe('interrupts, halt and time (system)', () => {
  it('hlt with interrupts enabled returns Halt; a pending interrupt wakes it and iret resumes after the hlt', () => {
    const m = makeMachine();
    boot(m, assemble(`${PRELUDE}
test_main:
  SET_GATE 0x30, irq, 0x8E
  mov dword [${out(0)}], after_hlt
  sti
  hlt
after_hlt:
  mov dword [${out(2)}], 1
  cli
  hlt
irq:
  mov eax, [esp]
  mov [${out(1)}], eax
  iretd`));
    assert.equal(m.cpu.run(1_000_000), RunExit.Halt);
    assert.equal(m.cpu.run(1_000_000), RunExit.Halt, 'still nothing pending');
    m.intr.raise(0x30);
    assert.equal(m.cpu.run(1_000_000), RunExit.Halt);
    assert.equal(u32(m, out(1)), u32(m, out(0)), 'the interrupt returned to the instruction after hlt');
    assert.equal(u32(m, out(2)), 1);
  });

  it('honours the sti shadow and cli: an interrupt pending before sti is taken only after the next instruction', () => {
    const m = makeMachine();
    boot(m, assemble(`${PRELUDE}
test_main:
  SET_GATE 0x31, irq, 0x8E
  mov dword [${out(0)}], after_nop
  mov ecx, 1000
spin:                                  ; IF=0: the pending interrupt waits
  loop spin
  sti
  nop
after_nop:
  cli
  hlt
irq:
  mov eax, [esp]
  mov [${out(1)}], eax
  iretd`));
    m.intr.raise(0x31);
    assert.equal(m.cpu.run(1_000_000), RunExit.Halt);
    assert.equal(u32(m, out(1)), u32(m, out(0)));
  });

  it('rdtsc never goes backwards and advances with the virtual clock', () => {
    const m = makeMachine();
    boot(m, assemble(`${PRELUDE}
test_main:
  mov ecx, 10000
  xor ebx, ebx                         ; count of backwards steps
  rdtsc
  mov esi, eax
  mov edi, edx
  mov [${out(0)}], eax
  mov [${out(1)}], edx
.l:
  rdtsc
  cmp edx, edi
  jb .back
  ja .ok
  cmp eax, esi
  jae .ok
.back:
  inc ebx
.ok:
  mov esi, eax
  mov edi, edx
  loop .l
  mov [${out(2)}], eax
  mov [${out(3)}], edx
  mov [${out(4)}], ebx
  hlt`));
    assert.equal(m.cpu.run(10_000_000), RunExit.Halt);
    assert.equal(u32(m, out(4)), 0, 'no backwards step');
    const first = u32(m, out(1)) * 2 ** 32 + u32(m, out(0));
    const last = u32(m, out(3)) * 2 ** 32 + u32(m, out(2));
    // One instruction = 1 ns of virtual time = one TSC tick: the loop ran ~70000 instructions.
    assert.ok(last - first >= 60000, `TSC advanced ${last - first}`);
  });

  it('wrmsr to the TSC moves it', () => {
    const m = makeMachine();
    boot(m, assemble(`${PRELUDE}
test_main:
  mov ecx, 0x10
  mov eax, 0
  mov edx, 0x100
  wrmsr
  rdtsc
  mov [${out(0)}], edx
  hlt`));
    m.cpu.run(1_000_000);
    assert.equal(u32(m, out(0)), 0x100);
  });
});
