import { strict as assert } from 'node:assert';
import { recorded, runSystemGuest, u32 } from './guest';
import { makeMachine, TestMachine } from './harness';
import { KSTACK_TOP, USTACK_TOP } from './prelude';

/** Scratch area the guests below write their observations to. */
const OUT = 0x81000;
const out = (i: number): number => OUT + 4 * i;

describe('privilege transitions (system)', () => {
  it('int 0x80 from ring 3 switches to the TSS ring-0 stack, and iret returns to ring 3', () => {
    const m = runSystemGuest(`
test_main:
  SET_GATE 0x80, syscall, 0xEE
  SET_GATE 0x81, finish, 0xEE
  mov eax, user_code
  jmp to_user
syscall:
  mov [${out(0)}], esp
  mov eax, [esp]
  mov [${out(1)}], eax           ; return EIP
  mov eax, [esp + 4]
  mov [${out(2)}], eax           ; CS
  mov eax, [esp + 12]
  mov [${out(3)}], eax           ; user ESP
  mov eax, [esp + 16]
  mov [${out(4)}], eax           ; user SS
  mov [${out(5)}], cs
  add ebx, 1
  iretd
finish:
  mov [${out(6)}], cs
  mov [${out(7)}], ebx
  hlt
user_code:
  mov ebx, 10
  int 0x80
after_int:
  add ebx, 100
  int 0x81`);
    assert.equal(u32(m, out(0)), KSTACK_TOP - 20, 'five dwords on the ring-0 stack');
    assert.equal(u32(m, out(2)) & 0xffff, 0x1b);
    assert.equal(u32(m, out(3)), USTACK_TOP);
    assert.equal(u32(m, out(4)) & 0xffff, 0x23);
    assert.equal(u32(m, out(5)) & 0xffff, 0x08);
    assert.equal(u32(m, out(6)) & 0xffff, 0x08);
    assert.equal(u32(m, out(7)), 111, 'ring 3 resumed after int 0x80 with the handler\'s EBX');
    assert.equal(m.cpu.userEntries, 2, 'entered ring 3 twice: to_user and the iret');
  });

  it('int n through a DPL 0 gate from ring 3 is #GP(vector * 8 + 2)', () => {
    const m = runSystemGuest(`
test_main:
  SET_GATE 0x40, test_main, 0x8E
  mov eax, user_code
  jmp to_user
user_code:
  int 0x40`);
    const r = recorded(m);
    assert.equal(r.vector, 13);
    assert.equal(r.errorCode, 0x40 * 8 + 2);
    assert.equal(r.cs, 0x1b);
  });

  it('iret to ring 3 nulls data segment registers the user may not use', () => {
    const m = runSystemGuest(`
test_main:
  SET_GATE 0x80, syscall, 0xEE
  mov eax, user_code
  jmp to_user
syscall:
  mov ax, KDATA
  mov ds, ax
  mov es, ax
  iretd
user_code:
  int 0x80
  mov [${out(0)}], ds                 ; the selector reads as 0
  mov eax, [ds:0x1000]                ; and using it is #GP(0)
  hlt`);
    const r = recorded(m);
    assert.equal(r.vector, 13);
    assert.equal(r.errorCode, 0);
    assert.equal(r.cs, 0x1b);
  });

  it('a far call through a ring-0 call gate copies parameters to the inner stack, and retf returns to ring 3', () => {
    const m = runSystemGuest(`
test_main:
  ; 32-bit call gate, DPL 3, two parameters, to KCODE:gate_target
  mov eax, gate_target
  mov [gdt + GATE_SEL], ax
  mov word [gdt + GATE_SEL + 2], KCODE
  mov byte [gdt + GATE_SEL + 4], 2
  mov byte [gdt + GATE_SEL + 5], 0xEC
  shr eax, 16
  mov [gdt + GATE_SEL + 6], ax
  SET_GATE 0x81, finish, 0xEE
  mov eax, user_code
  jmp to_user
gate_target:
  mov [${out(0)}], cs
  mov eax, [esp + 8]
  mov [${out(1)}], eax               ; second parameter pushed (the one nearer the return address)
  mov eax, [esp + 12]
  mov [${out(2)}], eax
  mov eax, [esp + 16]
  mov [${out(3)}], eax               ; caller ESP
  mov eax, [esp + 20]
  mov [${out(4)}], eax               ; caller SS
  mov [${out(5)}], esp
  retf 8
finish:
  mov [${out(6)}], ebx
  hlt
user_code:
  push dword 0x1111
  push dword 0x2222
  call GATE_SEL:0
  mov ebx, esp
  int 0x81`);
    assert.equal(u32(m, out(0)) & 0xffff, 0x08);
    assert.equal(u32(m, out(1)), 0x2222);
    assert.equal(u32(m, out(2)), 0x1111);
    assert.equal(u32(m, out(3)), USTACK_TOP - 8);
    assert.equal(u32(m, out(4)) & 0xffff, 0x23);
    assert.equal(u32(m, out(5)), KSTACK_TOP - 24);
    assert.equal(u32(m, out(6)), USTACK_TOP, 'retf 8 popped the parameters off the user stack');
  });

  it('sysenter enters ring 0 flat at the MSR-given CS:EIP/ESP and sysexit returns to ring 3 at EDX/ECX', () => {
    const m = runSystemGuest(`
test_main:
  xor edx, edx
  mov ecx, 0x174
  mov eax, KCODE
  wrmsr
  mov ecx, 0x175
  mov eax, 0x70000
  wrmsr
  mov ecx, 0x176
  mov eax, sysenter_entry
  wrmsr
  SET_GATE 0x81, finish, 0xEE
  mov eax, user_code
  jmp to_user
sysenter_entry:
  mov [${out(0)}], cs
  mov [${out(1)}], ss
  mov [${out(2)}], esp
  pushfd
  pop dword [${out(3)}]
  mov edx, back_in_user
  mov ecx, 0x7d000
  sysexit
finish:
  mov [${out(4)}], ebx
  hlt
user_code:
  mov ebx, esp
  sysenter
back_in_user:
  mov [${out(5)}], cs
  mov [${out(6)}], ss
  mov ebx, esp
  int 0x81`);
    assert.equal(u32(m, out(0)) & 0xffff, 0x08);
    assert.equal(u32(m, out(1)) & 0xffff, 0x10);
    assert.equal(u32(m, out(2)), 0x70000);
    assert.equal(u32(m, out(3)) & 0x200, 0, 'IF cleared');
    assert.equal(u32(m, out(5)) & 0xffff, 0x08 + 16 + 3);
    assert.equal(u32(m, out(6)) & 0xffff, 0x08 + 24 + 3);
    assert.equal(u32(m, out(4)), 0x7d000);
  });

  it('in/out from ring 3 with IOPL 0 and no I/O bitmap bit are #GP(0); cli too', () => {
    const io = runSystemGuest(`
test_main:
  mov eax, user_code
  jmp to_user
user_code:
  in al, 0x80`);
    assert.equal(recorded(io).vector, 13);
    assert.equal(recorded(io).errorCode, 0);
    const cli = runSystemGuest(`
test_main:
  mov eax, user_code
  jmp to_user
user_code:
  cli`);
    assert.equal(recorded(cli).vector, 13);
  });

  it('the TSS I/O bitmap lets ring 3 use the ports whose bits are clear', () => {
    const seen: number[] = [];
    const setup = (): TestMachine => {
      const machine = makeMachine();
      seen.length = 0;
      machine.bus.registerPorts(0x90, 2, { read: () => 0, write: (off, _size, v) => seen.push(0x90 + off, v) });
      return machine;
    };
    const m = runSystemGuest(`
test_main:
  mov dword [${out(0)}], denied
  mov word [tss + 0x66], 0x68                 ; bitmap right after the TSS
  mov word [gdt + TSS_SEL], 0x68 + 0x200 - 1  ; limit covers it
  mov ecx, 0x200 / 4
  lea edi, [tss + 0x68]
  mov eax, 0xffffffff
  rep stosd
  and byte [tss + 0x68 + (0x90 >> 3)], ~(1 << (0x90 & 7))   ; allow port 0x90 only
  and byte [gdt + TSS_SEL + 5], ~2            ; available again, so TR can be reloaded
  mov ax, TSS_SEL
  ltr ax
  mov eax, user_code
  jmp to_user
user_code:
  mov al, 7
  out 0x90, al
denied:
  out 0x91, al`, setup);
    const r = recorded(m);
    assert.deepEqual(seen, [0x90, 7]);
    assert.equal(r.vector, 13, 'port 0x91 is not allowed');
    assert.equal(r.errorCode, 0);
    assert.equal(r.eip, u32(m, out(0)));
  });
});
