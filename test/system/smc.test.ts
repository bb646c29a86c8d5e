import { strict as assert } from 'node:assert';
import { runSystemGuest, u32 } from './guest';
import { PAGE_TABLES } from './prelude';

const OUT = 0x81000;
const out = (i: number): number => OUT + 4 * i;
const pte = (addr: number): number => PAGE_TABLES + (addr >>> 12) * 4;

describe('self-modifying code (system)', () => {
  it('sees a store into the very next instruction of the running block', () => {
    const m = runSystemGuest(`
test_main:
  mov ecx, 3
again:
  mov byte [patch + 1], cl       ; rewrite the immediate below
patch:
  mov eax, 0
  add [${out(0)}], eax
  loop again
  hlt`);
    assert.equal(u32(m, out(0)), 3 + 2 + 1);
  });

  it('runs the new code after a function it already ran is overwritten', () => {
    const m = runSystemGuest(`
test_main:
  call func
  mov [${out(0)}], eax
  mov esi, new_body
  mov edi, func
  mov ecx, new_body_end - new_body
  rep movsb                      ; as module loading and text patching do
  call func
  mov [${out(1)}], eax
  hlt
func:
  mov eax, 1
  ret
new_body:
  mov eax, 2
  ret
new_body_end:`);
    assert.equal(u32(m, out(0)), 1);
    assert.equal(u32(m, out(1)), 2);
  });

  it('keeps two virtual aliases of one physical page consistent: write through one, execute through the other', () => {
    const m = runSystemGuest(`
test_main:
  call enable_paging
  ; code page at 0x400000, also mapped at 0x800000
  mov dword [${pte(0x800000)}], 0x400007
  invlpg [0x800000]
  mov esi, body1
  mov edi, 0x400000
  mov ecx, body_len
  rep movsb
  call 0x400000
  mov [${out(0)}], eax
  mov esi, body2
  mov edi, 0x800000              ; through the alias
  mov ecx, body_len
  rep movsb
  call 0x400000
  mov [${out(1)}], eax
  mov byte [0x800001], 9         ; patch one byte through the alias
  call 0x400000
  mov [${out(2)}], eax
  hlt
body1:
  mov eax, 1
  ret
body_len equ $ - body1
body2:
  mov eax, 2
  ret`);
    assert.equal(u32(m, out(0)), 1);
    assert.equal(u32(m, out(1)), 2);
    assert.equal(u32(m, out(2)), 9);
  });

  it('notices code written by a device behind the CPU (invalidatePhys)', () => {
    const m = runSystemGuest(`
test_main:
  mov dword [${out(1)}], test_main
  call 0x300000
  mov [${out(0)}], eax
  hlt
times 0x300000 - 0x100000 - ($ - $$) db 0
  mov eax, 1
  ret`);
    assert.equal(u32(m, out(0)), 1);
    // A "DMA" rewrite of the function, then run test_main again.
    m.mem.u8[0x300001] = 5;
    m.cpu.invalidatePhys(0x300000, 16);
    m.cpu.eip = u32(m, out(1));
    m.cpu.halted = false;
    m.cpu.run(1_000_000);
    assert.equal(u32(m, out(0)), 5);
  });
});
