import { strict as assert } from 'node:assert';
import { recorded, runSystemGuest, u32 } from './guest';
import { makeMachine, TestMachine } from './harness';
import { PAGE_DIR, PAGE_TABLES } from './prelude';

/** PTE address of the identity-mapped page holding `addr`. */
const pte = (addr: number): number => PAGE_TABLES + (addr >>> 12) * 4;

describe('paging (system)', () => {
  it('a read of a not-present page faults with CR2 = the address and error code 0', () => {
    const m = runSystemGuest(`
test_main:
  call enable_paging
  mov dword [${pte(0x500000)}], 0      ; unmap 0x500000
  invlpg [0x500000]
fault_here:
  mov eax, [0x500123]
  hlt`);
    const r = recorded(m);
    assert.equal(r.vector, 14);
    assert.equal(r.errorCode, 0);
    assert.equal(r.cr2, 0x500123);
    assert.equal(r.cs, 0x08);
  });

  it('returns to the faulting instruction, so a handler that maps the page has it retried', () => {
    const m = runSystemGuest(`
test_main:
  call enable_paging
  SET_GATE 14, pf_handler, 0x8E
  mov dword [0x500000], 0x1234
  mov dword [${pte(0x500000)}], 0
  invlpg [0x500000]
  xor ebx, ebx
  mov eax, [0x500000]                ; faults once; the handler maps the page; retried
  hlt
pf_handler:
  inc ebx
  mov dword [${pte(0x500000)}], 0x500007
  add esp, 4                         ; drop the error code
  iretd`);
    assert.equal(m.cpu.regs[3], 1);
    assert.equal(m.cpu.regs[0], 0x1234);
  });

  it('write to a read-only page from ring 3: error code P|W|U, CR2, and the user EIP', () => {
    const m = runSystemGuest(`
test_main:
  call enable_paging
  and dword [${pte(0x600000)}], ~2     ; read-only
  invlpg [0x600000]
  mov eax, user_code
  jmp to_user
user_code:
  mov eax, [0x600010]                  ; reading is fine
user_fault:
  mov [0x600010], eax
  hlt`);
    const r = recorded(m);
    assert.equal(r.vector, 14);
    assert.equal(r.errorCode, 7);
    assert.equal(r.cr2, 0x600010);
    assert.equal(r.cs, 0x1b);
  });

  it('user access to a supervisor page faults with P|U (5); the kernel may write read-only pages only without CR0.WP', () => {
    const m = runSystemGuest(`
test_main:
  call enable_paging
  and dword [${pte(0x610000)}], ~4     ; supervisor only
  and dword [${pte(0x620000)}], ~2     ; read-only
  invlpg [0x610000]
  invlpg [0x620000]
  mov eax, cr0
  and eax, ~0x10000                    ; WP off: ring 0 writes anything
  mov cr0, eax
  mov dword [0x620000], 0x11
  or eax, 0x10000
  mov cr0, eax
  SET_GATE 14, wp_fault, 0x8E
  mov dword [0x620000], 0x22           ; now it faults
back:
  mov eax, user_code
  jmp to_user
wp_fault:
  pop dword [0x81000]                   ; error code
  mov eax, cr2
  mov [0x81004], eax
  SET_GATE 14, stub_14, 0x8E
  mov dword [esp], back
  iretd
user_code:
  mov eax, [0x610000]
  hlt`);
    assert.equal(u32(m, 0x620000), 0x11);
    assert.equal(u32(m, 0x81000), 3, 'supervisor write with WP: P|W');
    assert.equal(u32(m, 0x81004), 0x620000);
    const r = recorded(m);
    assert.equal(r.errorCode, 5);
    assert.equal(r.cr2, 0x610000);
  });

  it('sets accessed and dirty bits in the page tables', () => {
    const m = runSystemGuest(`
test_main:
  call enable_paging
  and dword [${pte(0x700000)}], ~0x60
  and dword [${pte(0x701000)}], ~0x60
  and dword [${pte(0x702000)}], ~0x60
  invlpg [0x700000]
  invlpg [0x701000]
  invlpg [0x702000]
  mov eax, [0x700000]
  mov dword [0x701000], 1
  hlt`);
    assert.equal(u32(m, pte(0x700000)) & 0x60, 0x20, 'read: accessed only');
    assert.equal(u32(m, pte(0x701000)) & 0x60, 0x60, 'write: accessed and dirty');
    assert.equal(u32(m, pte(0x702000)) & 0x60, 0, 'untouched');
    assert.equal(u32(m, PAGE_DIR) & 0x20, 0x20, 'directory entry accessed');
  });

  it('maps 4 MiB pages with CR4.PSE', () => {
    const m = runSystemGuest(`
test_main:
  call enable_paging
  mov eax, cr4
  or eax, 0x10
  mov cr4, eax
  mov dword [PAGE_DIR + (0x40000000 >> 22) * 4], 0x00800087   ; 1 GiB -> 8 MiB, 4 MiB page
  mov dword [0x800000 + 0x12344], 0xabcdef
  mov eax, [0x40012344]
  mov dword [0x40300000], 5
  hlt`);
    assert.equal(m.cpu.regs[0], 0xabcdef);
    assert.equal(u32(m, 0xb00000), 5);
    assert.equal(u32(m, PAGE_DIR + (0x40000000 >>> 22) * 4) & 0x60, 0x60);
  });

  it('keeps global pages across a CR3 reload and drops the others; invlpg drops one', () => {
    const m = runSystemGuest(`
test_main:
  call enable_paging
  mov eax, cr4
  or eax, 0x80                                    ; PGE
  mov cr4, eax
  mov dword [0x900000], 0x900
  mov dword [0x901000], 0x901
  mov dword [0x902000], 0x902
  or dword [${pte(0x900000)}], 0x100              ; global
  invlpg [0x900000]
  mov eax, [0x900000]                             ; fill the TLB
  mov eax, [0x901000]
  ; retarget both PTEs to 0x902000 behind the TLB's back
  mov dword [${pte(0x900000)}], 0x902107
  mov dword [${pte(0x901000)}], 0x902007
  mov eax, cr3
  mov cr3, eax
  mov esi, [0x900000]                             ; global: still the old page
  mov edi, [0x901000]                             ; reloaded: the new page
  invlpg [0x900000]
  mov ebp, [0x900000]                             ; now the new page
  hlt`);
    assert.equal(m.cpu.regs[6], 0x900);
    assert.equal(m.cpu.regs[7], 0x902);
    assert.equal(m.cpu.regs[5], 0x902);
  });

  it('routes physical addresses beyond RAM to the MMIO bus on every access, never through the TLB', () => {
    const seen: string[] = [];
    let reg = 0;
    const setup = (): TestMachine => {
      const machine = makeMachine();
      seen.length = 0;
      reg = 0;
      machine.bus.registerMmio(0xfebf0000, 0x1000, {
        read: (off, size) => {
          seen.push(`r${off}/${size}`);
          return reg + off;
        },
        write: (off, size, v) => {
          seen.push(`w${off}/${size}=${v}`);
          reg = v;
        },
      });
      return machine;
    };
    const m = runSystemGuest(`
test_main:
  call enable_paging
  mov dword [PAGE_DIR + (0xfe000000 >> 22) * 4], 0x210007
  mov dword [0x210000], 0xfebf0013       ; 0xfe000000 -> physical 0xfebf0000, cache disabled
  mov dword [0xfe000004], 0x55
  mov eax, [0xfe000008]
  mov word [0xfe000004], 0x66
  mov ebx, [0xfe000008]
  movzx ecx, byte [0xfe000001]
  hlt`, setup);
    assert.deepEqual(seen, ['w4/4=85', 'r8/4', 'w4/2=102', 'r8/4', 'r1/1']);
    assert.equal(m.cpu.regs[0], 0x55 + 8);
    assert.equal(m.cpu.regs[3], 0x66 + 8);
    assert.equal(m.cpu.regs[1], 0x66 + 1);
  });
});
