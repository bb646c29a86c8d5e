import { strict as assert } from 'node:assert';
import { performance } from 'node:perf_hooks';
import { RunExit } from '../../src/guest/cpu/cpu';
import { STRING_YIELD } from '../../src/guest/cpu/strings';
import { assemble, boot, makeMachine, TestMachine } from '../system/harness';
import { PRELUDE, RESULTS } from '../system/prelude';

/**
 * A rep string instruction over 1 GiB must not hold the thread: it yields
 * (STRING_YIELD) every step with EIP on itself and ECX/ESI/EDI describing
 * what is left, takes interrupts in between as the hardware does, and still
 * ends with the right result.
 */

const OUT = 0x81000;
const PT_ALIAS = 0x210000;
const DATA_PAGE = 0x300000;
const GIB = 0x40000000;

/** User code does `rep lodsb` over [1 GiB, 2 GiB), every page of which maps one physical page. */
const GUEST = `${PRELUDE}
test_main:
  call enable_paging
  ; one page table whose 1024 entries all map DATA_PAGE (user, read-only) ...
  mov edi, ${PT_ALIAS}
  mov eax, ${DATA_PAGE} | 5
  mov ecx, 1024
  rep stosd
  ; ... used by the 256 directory entries covering [1 GiB, 2 GiB)
  mov edi, PAGE_DIR + 256 * 4
  mov eax, ${PT_ALIAS} | 7
  mov ecx, 256
  rep stosd
  mov eax, cr3
  mov cr3, eax
  SET_GATE 0x30, irq, 0x8E
  sti                          ; user mode runs with interrupts on
  mov eax, user
  jmp to_user
user:
  mov esi, ${GIB}
  mov ecx, ${GIB}
  cld
  rep lodsb
  mov [${OUT}], eax
  mov [${OUT + 4}], ecx
  mov [${OUT + 8}], esi
  ud2
irq:
  push eax
  mov eax, [esp + 4]
  mov [${OUT + 12}], eax
  mov eax, [esp + 8]
  mov [${OUT + 16}], eax
  inc dword [${OUT + 20}]
  pop eax
  iretd
`;

function u32(m: TestMachine, addr: number): number {
  return m.mem.view.getUint32(addr, true);
}

/** The address of the `rep lodsb`: found by its bytes (cld; rep lodsb) in the image. */
function repAddress(image: Buffer): number {
  const at = image.indexOf(Buffer.from([0xfc, 0xf3, 0xac]));
  assert.ok(at > 0);
  return 0x100000 + at + 1;
}

describe('rep string instructions yield (CPU, strings.ts)', () => {
  for (const translated of [false, true]) {
    it(`user-mode rep lodsb over 1 GiB runs in bounded steps, takes an interrupt part way and finishes right (${translated ? 'translated' : 'interpreted'})`, function () {
      this.timeout(60000);
      const image = assemble(GUEST);
      const repEip = repAddress(image);
      const m = makeMachine();
      m.mem.u8.fill(0x11, DATA_PAGE, DATA_PAGE + 0x1000);
      m.mem.u8[DATA_PAGE + 0xfff] = 0x5a;
      if (translated) m.cpu.compileAfter = 1;
      boot(m, image);
      let yields = 0;
      let longest = 0;
      let raised = false;
      for (;;) {
        const t0 = performance.now();
        let exit: RunExit | undefined;
        try {
          exit = m.cpu.run(10_000_000);
        } catch (e) {
          if (e !== STRING_YIELD) throw e;
        }
        longest = Math.max(longest, performance.now() - t0);
        if (exit === RunExit.Halt) break;
        if (exit === undefined) {
          yields++;
          // Restartable state: on the instruction, with the work left in the registers.
          assert.equal(m.cpu.eip >>> 0, repEip);
          const ecx = m.cpu.regs[1] >>> 0;
          const esi = m.cpu.regs[6] >>> 0;
          assert.ok(ecx > 0 && ecx < GIB);
          assert.equal(esi - GIB, GIB - ecx);
          if (!raised) {
            m.intr.raise(0x30);
            raised = true;
          }
        }
        assert.ok(yields < 10000, 'runs forever');
      }
      assert.equal(u32(m, RESULTS), 6, 'ended at the ud2 after the loop');
      assert.equal(u32(m, OUT) & 0xff, 0x5a, 'AL is the last byte');
      assert.equal(u32(m, OUT + 4), 0, 'ECX');
      assert.equal(u32(m, OUT + 8), 2 * GIB, 'ESI');
      assert.equal(u32(m, OUT + 20), 1, 'one interrupt taken');
      assert.equal(u32(m, OUT + 12), repEip, 'the interrupt returned to the rep instruction');
      assert.equal(u32(m, OUT + 16) & 3, 3, 'from user mode');
      assert.ok(yields > 2, `yielded ${yields} times`);
      // Generous for a loaded machine; unbounded it is tens of seconds.
      assert.ok(longest < 200, `one run took ${longest.toFixed(1)} ms`);
    });
  }

  it('a slow-path rep (repe scasb, ECX = 0xffffffff) yields within milliseconds with the work left in ECX/EDI', () => {
    const m = makeMachine();
    boot(m, assemble(`bits 32
org 0x100000
  mov edi, 0x200000
  mov ecx, 0xffffffff
  xor eax, eax
  cld
  repe scasb
  hlt`));
    const t0 = performance.now();
    assert.throws(() => m.cpu.run(1_000_000), (e) => e === STRING_YIELD);
    assert.ok(performance.now() - t0 < 200);
    assert.equal(m.cpu.eip >>> 0, 0x100000 + 13, 'on the repe scasb');
    const done = 0xffffffff - (m.cpu.regs[1] >>> 0);
    assert.ok(done > 0);
    assert.equal((m.cpu.regs[7] >>> 0) - 0x200000, done);
    // The next run continues it (and yields again).
    assert.throws(() => m.cpu.run(1_000_000), (e) => e === STRING_YIELD);
    assert.equal(0xffffffff - (m.cpu.regs[1] >>> 0), 2 * done);
  });
});
