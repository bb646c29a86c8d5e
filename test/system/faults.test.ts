import { strict as assert } from 'node:assert';
import { GuestError } from '../../src/guest/guest-error';
import { RunExit } from '../../src/guest/cpu/cpu';
import { recorded, runSystemGuest, u32 } from './guest';
import { assemble, boot, makeMachine } from './harness';
import { DF_STACK_TOP, PRELUDE } from './prelude';

const OUT = 0x81000;
const out = (i: number): number => OUT + 4 * i;
const NO_ERROR = 0xdead;

/** Set up TSS2 as the double-fault task: flat ring 0, its own stack, entry `df_task`. */
const DF_TASK_SETUP = `
  mov dword [tss2 + 0x1c], 0                 ; CR3 (paging is off)
  mov dword [tss2 + 0x20], df_task           ; EIP
  mov dword [tss2 + 0x24], 0x2               ; EFLAGS
  mov dword [tss2 + 0x38], ${DF_STACK_TOP}   ; ESP
  mov word [tss2 + 0x48], KDATA              ; ES
  mov word [tss2 + 0x4c], KCODE              ; CS
  mov word [tss2 + 0x50], KDATA              ; SS
  mov word [tss2 + 0x54], KDATA              ; DS
  mov word [tss2 + 0x58], KDATA              ; FS
  mov word [tss2 + 0x5c], KDATA              ; GS
  ; IDT vector 8: task gate to TSS2
  mov dword [idt + 8 * 8], TSS2_SEL << 16
  mov dword [idt + 8 * 8 + 4], 0x8500
`;

describe('exceptions and faults (system)', () => {
  it('takes a double fault through a task gate into a fresh task, and iret (NT) resumes the faulting task', () => {
    const m = runSystemGuest(`
test_main:
${DF_TASK_SETUP}
  mov byte [idt + 0 * 8 + 5], 0x0E           ; #DE gate not present: delivering #DE raises #NP -> #DF
  mov ebx, 0x1234
  xor ecx, ecx
  xor edx, edx
  mov eax, 1
divide:
  div ecx                                    ; #DE
  mov [${out(5)}], ebx                       ; back in the first task, registers intact
  mov [${out(6)}], eax
  hlt
df_task:
  mov [${out(0)}], esp
  pop eax
  mov [${out(1)}], eax                       ; the #DF error code (0)
  mov ax, [tss2]
  mov [${out(2)}], ax                        ; back link = the outgoing TSS
  mov eax, [tss + 0x20]
  mov [${out(3)}], eax                       ; outgoing task's saved EIP: the div
  pushfd
  pop dword [${out(4)}]                      ; NT set
  SET_GATE 0, de_handler, 0x8E               ; fix the cause
  iretd                                      ; NT: task return
  jmp df_task                                ; a second #DF would re-enter here
de_handler:
  mov eax, 0x5678
  add dword [esp], 2                         ; skip the 2-byte div
  iretd`);
    assert.equal(u32(m, out(0)), DF_STACK_TOP - 4, 'error code pushed on the new task\'s stack');
    assert.equal(u32(m, out(1)), 0);
    assert.equal(u32(m, out(2)) & 0xffff, 0x28);
    assert.equal(u32(m, out(4)) & 0x4000, 0x4000);
    assert.equal(u32(m, out(5)), 0x1234);
    assert.equal(u32(m, out(6)), 0x5678, 'the retried div raised #DE again, handled this time');
    assert.equal(m.cpu.trSel, 0x28, 'TR back on the first task');
  });

  it('a fault while delivering a double fault is a triple fault: GuestError with the reason, registers and code', () => {
    const m = makeMachine();
    boot(m, assemble(`${PRELUDE}
test_main:
  mov ebx, 0xfeedface
  lidt [empty_idt]
  ud2
empty_idt:
  dw 0
  dd 0`));
    assert.throws(
      () => m.cpu.run(1_000_000),
      (e: unknown) => {
        assert.ok(e instanceof GuestError);
        assert.match(e.message, /^triple fault: /);
        assert.match(e.message, /while delivering #DF double fault/);
        assert.match(e.message, /first: #UD invalid opcode/);
        assert.match(e.message, /ebx=feedface/);
        assert.match(e.message, /code at cs:eip: 0f 0b/);
        return true;
      },
    );
  });

  it('pushes the error codes the SDM gives: selector for #GP/#NP/#SS, none for #UD, EIP at the fault', () => {
    const gp = runSystemGuest(`
test_main:
  mov ax, 0x1000                             ; beyond the GDT limit
  mov ds, ax`);
    assert.equal(recorded(gp).vector, 13);
    assert.equal(recorded(gp).errorCode, 0x1000);

    const np = runSystemGuest(`
test_main:
  and byte [gdt + 0x20 + 5], 0x7f            ; user data segment not present
  mov ax, 0x20                               ; RPL 0, DPL 3: allowed apart from P
  mov es, ax`);
    assert.equal(recorded(np).vector, 11);
    assert.equal(recorded(np).errorCode, 0x20);

    const ss = runSystemGuest(`
test_main:
  mov ax, UDATA                              ; DPL 3 stack segment at CPL 0
  mov ss, ax`);
    assert.equal(recorded(ss).vector, 13);
    assert.equal(recorded(ss).errorCode, 0x20);

    const ud = runSystemGuest(`
test_main:
  mov dword [${out(0)}], here
here:
  ud2`);
    assert.equal(recorded(ud).vector, 6);
    assert.equal(recorded(ud).errorCode, NO_ERROR);
    assert.equal(recorded(ud).eip, u32(ud, out(0)));
  });

  it('rdmsr of an MSR the CPU lacks is #GP(0) at the rdmsr (what rdmsr_safe relies on)', () => {
    const m = runSystemGuest(`
test_main:
  mov dword [${out(0)}], here
  mov ecx, 0xc0000080                        ; EFER: no long mode, no NX here
here:
  rdmsr`);
    const r = recorded(m);
    assert.equal(r.vector, 13);
    assert.equal(r.errorCode, 0);
    assert.equal(r.eip, u32(m, out(0)));
  });

  it('traps report the next instruction (int3, into), faults the instruction itself (div, bound)', () => {
    const cases: [string, number, boolean][] = [
      ['int3', 3, true],
      ['mov al, 0x7f\n  add al, 1\n  into', 4, true],
      ['xor ecx, ecx\n  div ecx', 0, false],
      ['mov eax, 5\n  bound eax, [bounds]', 5, false],
    ];
    for (const [code, vector, trap] of cases) {
      const m = runSystemGuest(`
test_main:
  mov dword [${out(0)}], before
  mov dword [${out(1)}], after
  ${code.split('\n').slice(0, -1).join('\n')}
before:
  ${code.split('\n').slice(-1)[0]}
after:
  hlt
bounds:
  dd 0, 3`);
      const r = recorded(m);
      assert.equal(r.vector, vector, code);
      assert.equal(r.eip, u32(m, trap ? out(1) : out(0)), code);
    }
  });

  it('x87 instructions with CR0.TS raise #NM; clts lets them run', () => {
    const m = runSystemGuest(`
test_main:
  SET_GATE 7, nm_handler, 0x8E
  mov eax, cr0
  or eax, 0x8 | 0x20                         ; TS, NE
  mov cr0, eax
  fninit
  fld1
  fstp dword [${out(1)}]
  hlt
nm_handler:
  inc dword [${out(0)}]
  clts
  iretd`);
    assert.equal(u32(m, out(0)), 1);
    assert.equal(u32(m, out(1)), 0x3f800000);
  });

  it('a guest that halts with interrupts off stops run() with Halt', () => {
    const m = makeMachine();
    boot(m, assemble(`${PRELUDE}
test_main:
  cli
  hlt`));
    assert.equal(m.cpu.run(1_000_000), RunExit.Halt);
    assert.equal(m.cpu.run(1_000_000), RunExit.Halt);
  });
});
