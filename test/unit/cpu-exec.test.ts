import { strict as assert } from 'node:assert';
import { runGuest } from '../system/harness';

const OUT = 0x80000;
const u32 = (m: ReturnType<typeof runGuest>, a: number): number => m.mem.view.getUint32(a, true);

describe('cpu execution (flat 32-bit guests)', () => {
  it('runs a counted loop', () => {
    const m = runGuest(`
      mov ecx, 1000
      xor eax, eax
    l: add eax, ecx
      dec ecx
      jnz l
      hlt`);
    assert.equal(m.cpu.regs[0], 500500);
  });

  it('rep movsd copies forwards element by element, even over itself (pattern fill)', () => {
    const m = runGuest(`
      mov dword [0x200000], 0x11223344
      mov esi, 0x200000
      mov edi, 0x200004
      mov ecx, 2000                       ; crosses page boundaries, overlapping by one element
      rep movsd
      mov esi, 0x300ff0                   ; a page-straddling forward copy
      mov edi, 0x310ffa
      mov dword [0x300ff0], 0xaabbccdd
      mov dword [0x300ff4], 0x01020304
      mov dword [0x300ff8], 0x05060708
      mov dword [0x300ffc], 0x090a0b0c
      mov dword [0x301000], 0x0d0e0f10
      mov ecx, 5
      rep movsd
      hlt`);
    assert.equal(u32(m, 0x200000 + 4 * 2000), 0x11223344);
    assert.equal(u32(m, 0x200000 + 4 * 1000), 0x11223344);
    assert.equal(m.cpu.regs[1], 0);
    assert.equal(u32(m, 0x310ffa), 0xaabbccdd);
    assert.equal(u32(m, 0x311006 + 4), 0x0d0e0f10);
    assert.equal(m.cpu.regs[6] >>> 0, 0x301004);
  });

  it('rep stos fills bytes, words and dwords, and std runs it backwards', () => {
    const m = runGuest(`
      mov edi, 0x200001
      mov ecx, 5000
      mov al, 0x5a
      rep stosb
      mov edi, 0x210002
      mov ecx, 3
      mov ax, 0x1234
      rep stosw
      mov edi, 0x220008
      mov ecx, 3
      mov eax, 0xdeadbeef
      std
      rep stosd
      cld
      hlt`);
    assert.equal(m.mem.u8[0x200000], 0);
    assert.equal(m.mem.u8[0x200001], 0x5a);
    assert.equal(m.mem.u8[0x200001 + 4999], 0x5a);
    assert.equal(m.mem.u8[0x200001 + 5000], 0);
    assert.equal(u32(m, 0x210002), 0x12341234);
    assert.equal(u32(m, 0x220000), 0xdeadbeef);
    assert.equal(u32(m, 0x220008), 0xdeadbeef);
    assert.equal(m.cpu.regs[7] >>> 0, 0x220008 - 12);
  });

  it('repne scasb finds a byte (strlen), repe cmpsb stops at the first difference', () => {
    const m = runGuest(`
      mov esi, str1
      mov edi, esi
      mov ecx, -1
      xor al, al
      repne scasb
      not ecx
      dec ecx
      mov [${OUT}], ecx
      mov esi, str1
      mov edi, str2
      mov ecx, 10
      repe cmpsb
      mov [${OUT + 4}], ecx
      hlt
    str1: db "hello world", 0
    str2: db "hello there", 0`);
    assert.equal(u32(m, OUT), 11);
    assert.equal(u32(m, OUT + 4), 10 - 7);
  });

  it('bt family with a register bit offset reaches beyond the operand in memory', () => {
    const m = runGuest(`
      mov dword [0x200000], 0
      mov dword [0x200004], 0
      mov eax, 35
      bts dword [0x200000], eax            ; sets bit 3 of the next dword
      mov eax, -1
      mov dword [0x1ffffc], 0x80000000
      bt dword [0x200000], eax             ; bit 31 of the dword before
      setc bl
      btr dword [0x200004], 3
      setc bh
      hlt`);
    assert.equal(m.cpu.regs[3] & 0xffff, 0x0101);
    assert.equal(u32(m, 0x200004), 0);
  });

  it('cmpxchg8b, xadd, xchg, cmpxchg', () => {
    const m = runGuest(`
      mov dword [0x200000], 1
      mov dword [0x200004], 2
      mov eax, 1
      mov edx, 2
      mov ebx, 3
      mov ecx, 4
      lock cmpxchg8b [0x200000]            ; equal: stores ECX:EBX
      setz [${OUT}]
      lock cmpxchg8b [0x200000]            ; not equal now: loads EDX:EAX
      setz [${OUT + 1}]
      mov [${OUT + 4}], eax
      mov [${OUT + 8}], edx
      mov esi, 10
      lock xadd [0x200000], esi            ; mem 3 -> 13, esi = 3
      mov [${OUT + 12}], esi
      mov eax, 99
      mov ecx, 7
      cmpxchg [0x200000], ecx              ; 99 != 13: eax = 13
      mov [${OUT + 16}], eax
      hlt`);
    assert.equal(m.mem.u8[OUT], 1);
    assert.equal(m.mem.u8[OUT + 1], 0);
    assert.equal(u32(m, OUT + 4), 3);
    assert.equal(u32(m, OUT + 8), 4);
    assert.equal(u32(m, OUT + 12), 3);
    assert.equal(u32(m, OUT + 16), 13);
    assert.equal(u32(m, 0x200000), 13);
  });

  it('16-bit operand and address sizes', () => {
    const m = runGuest(`
      mov eax, 0x12345678
      add ax, 0xffff                       ; 16-bit wrap, upper half kept
      mov [${OUT}], eax
      mov ebx, 0x10000
      mov si, 4
      mov dword [0x4], 0xabcd
      a16 mov ecx, [si]                    ; [si] with a 16-bit address: 0x4
      mov [${OUT + 4}], ecx
      o16 push word 0x1234
      pop dx
      mov [${OUT + 8}], edx
      hlt`);
    assert.equal(u32(m, OUT), 0x12345677);
    assert.equal(u32(m, OUT + 4), 0xabcd);
    assert.equal(u32(m, OUT + 8) & 0xffff, 0x1234);
  });

  it('pusha/popa, enter/leave, call/ret with an immediate', () => {
    const m = runGuest(`
      mov eax, 1
      mov ecx, 2
      mov edx, 3
      mov ebx, 4
      mov ebp, 6
      mov esi, 7
      mov edi, 8
      mov [${OUT}], esp
      pushad
      xor eax, eax
      xor ecx, ecx
      xor edi, edi
      popad
      mov [${OUT + 4}], esp
      push dword 5
      call f
      mov [${OUT + 8}], esp
      hlt
    f:
      enter 8, 0
      mov eax, [ebp + 8]
      mov [${OUT + 12}], eax
      leave
      ret 4`);
    assert.equal(u32(m, OUT), u32(m, OUT + 4));
    assert.equal(m.cpu.regs[0], 5);
    assert.equal(m.cpu.regs[1], 2);
    assert.equal(m.cpu.regs[7], 8);
    assert.equal(u32(m, OUT + 8), u32(m, OUT));
    assert.equal(u32(m, OUT + 12), 5);
  });

  it('mul, div and idiv work on EDX:EAX', () => {
    const m = runGuest(`
      mov eax, 0xffffffff
      mov ecx, 0xffffffff
      mul ecx
      mov [${OUT}], eax
      mov [${OUT + 4}], edx
      mov edx, 5
      mov eax, 7
      mov ecx, 10
      div ecx                              ; 0x500000007 / 10
      mov [${OUT + 8}], eax
      mov [${OUT + 12}], edx
      mov edx, -1
      mov eax, -7
      mov ecx, 2
      idiv ecx
      mov [${OUT + 16}], eax
      mov [${OUT + 20}], edx
      hlt`);
    assert.equal(u32(m, OUT), 1);
    assert.equal(u32(m, OUT + 4), 0xfffffffe);
    assert.equal(u32(m, OUT + 8), Math.floor(0x500000007 / 10));
    assert.equal(u32(m, OUT + 12), 0x500000007 % 10);
    assert.equal(u32(m, OUT + 16) | 0, -3);
    assert.equal(u32(m, OUT + 20) | 0, -1);
  });

  it('cpuid reports a family 6 GenuineIntel with exactly the implemented features', () => {
    const m = runGuest(`
      xor eax, eax
      cpuid
      mov [${OUT}], ebx
      mov [${OUT + 4}], edx
      mov [${OUT + 8}], ecx
      mov eax, 1
      cpuid
      mov [${OUT + 12}], eax
      mov [${OUT + 16}], edx
      hlt`);
    assert.equal(Buffer.from(m.mem.u8.subarray(OUT, OUT + 12)).toString('latin1'), 'GenuineIntel');
    assert.equal((u32(m, OUT + 12) >> 8) & 0xf, 6);
    const edx = u32(m, OUT + 16);
    const has = (bit: number): boolean => ((edx >>> bit) & 1) === 1;
    for (const bit of [0, 3, 4, 5, 8, 11, 13, 15, 24]) assert.ok(has(bit), `feature bit ${bit}`);
    for (const bit of [1, 2, 6, 7, 9, 12, 16, 23, 25]) assert.ok(!has(bit), `no feature bit ${bit}`);
  });

  it('mixes ALU, shift and flag-reading instructions the same way interpreted and translated', () => {
    // runGuest also runs this with every block translated and compares the end
    // states: each operation's flags are folded into EBP, so a wrong flag in
    // either path shows.
    const ops = [
      'add eax, ebx', 'adc edx, ecx', 'shl eax, 3', 'shr ebx, 5', 'sar edx, 1', 'shl edx, 31', 'shr eax, 31',
      'rol eax, 7', 'sbb ebx, eax', 'inc dword [0x200000]', 'dec edx', 'neg ebx', 'imul eax, ebx, 0x1f',
      'cmp eax, ebx', 'sub eax, 0x80000000', 'and ebx, 0xff00ff00', 'or edx, eax', 'xor eax, 0x5a5a5a5a',
      'inc eax', 'dec dword [0x200008]', 'test edx, edx', 'bt eax, 3',
    ];
    const m = runGuest(`
      mov ecx, 300
      mov eax, 0x12345678
      mov ebx, 0x9abcdef0
      xor edx, edx
      xor ebp, ebp
    l:
${ops.map((op) => `      ${op}\n      pushfd\n      pop esi\n      rol ebp, 1\n      xor ebp, esi`).join('\n')}
      cmp eax, ebx
      cmovl eax, ebx
      setc [0x200004]
      movzx esi, byte [0x200004]
      add ebp, esi
      test ecx, 1
      jz skip
      lea eax, [eax + edx*4 + 3]
    skip:
      dec ecx
      jnz l
      hlt`);
    assert.equal(u32(m, 0x200000), 300);
    assert.equal(m.cpu.regs[1], 0);
  });
});
