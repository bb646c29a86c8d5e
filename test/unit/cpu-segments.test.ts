import { strict as assert } from 'node:assert';
import { FAULT } from '../../src/guest/cpu/fault';
import { descBase, descLimit, loadSeg, segCheck } from '../../src/guest/cpu/segments';
import { boot, GDT_BASE, makeMachine, TestMachine } from '../system/harness';

/** GDT slots for the tests, after the loader's 0x10/0x18 pair. */
function machineWithGdt(entries: Record<number, [number, number]>): TestMachine {
  const m = makeMachine();
  boot(m, new Uint8Array([0xf4]));
  for (const [sel, [lo, hi]] of Object.entries(entries)) {
    m.mem.view.setUint32(GDT_BASE + Number(sel), lo, true);
    m.mem.view.setUint32(GDT_BASE + Number(sel) + 4, hi, true);
  }
  m.cpu.gdtLimit = 0x7f;
  return m;
}

function faultOf(f: () => void): [number, number] {
  try {
    f();
  } catch (e) {
    if (e !== FAULT) throw e;
    return [FAULT.vector, FAULT.errorCode];
  }
  assert.fail('no fault');
}

describe('cpu segments', () => {
  it('decodes base and limit, with 4 KiB granularity', () => {
    assert.equal(descBase(0x5678ffff, 0x12cf9a34) >>> 0, 0x12345678);
    assert.equal(descLimit(0x0000ffff, 0x00cf9a00), 0xffffffff);
    assert.equal(descLimit(0x00001234, 0x00059200), 0x51234);
  });

  it('loads a data segment and sets its accessed bit', () => {
    const m = machineWithGdt({ 0x20: [0x0000ffff, 0x00409200 | 0x12] });
    loadSeg(m.cpu, 3, 0x20);
    const s = m.cpu.getSegment(3);
    assert.equal(s.base, 0x120000);
    assert.equal(s.limit, 0xffff);
    assert.equal(s.flags & 0xff00, 0x9300);
    assert.equal(m.mem.view.getUint32(GDT_BASE + 0x24, true) & 0x100, 0x100);
  });

  it('checks a data segment load: type, privilege, presence, with the selector as error code', () => {
    const m = machineWithGdt({
      0x20: [0xffff, 0x00cf9a00 & ~0x200], // execute-only code
      0x28: [0xffff, 0x00cf1200], // not present data
      0x30: [0xffff, 0x00cf8900], // a TSS (system)
    });
    assert.deepEqual(faultOf(() => loadSeg(m.cpu, 3, 0x20)), [13, 0x20]);
    assert.deepEqual(faultOf(() => loadSeg(m.cpu, 3, 0x28)), [11, 0x28]);
    assert.deepEqual(faultOf(() => loadSeg(m.cpu, 3, 0x30)), [13, 0x30]);
    assert.deepEqual(faultOf(() => loadSeg(m.cpu, 3, 0x80)), [13, 0x80], 'beyond the GDT limit');
    assert.deepEqual(faultOf(() => loadSeg(m.cpu, 2, 0)), [13, 0], 'null SS');
    assert.deepEqual(faultOf(() => loadSeg(m.cpu, 2, 0x28)), [12, 0x28], 'not-present SS is #SS');
    loadSeg(m.cpu, 4, 0);
    assert.deepEqual(faultOf(() => segCheck(m.cpu, 4, 0, 1, false)), [13, 0], 'a null segment is unusable');
  });

  it('limit checks: expand-up, expand-down, and #SS for the stack segment', () => {
    const m = machineWithGdt({
      0x20: [0x00000fff, 0x00409200], // expand-up, limit 0xfff, 32-bit
      0x28: [0x00000fff, 0x00409600], // expand-down, limit 0xfff, big
    });
    loadSeg(m.cpu, 3, 0x20);
    assert.equal(segCheck(m.cpu, 3, 0xffc, 4, false), 0xffc);
    assert.deepEqual(faultOf(() => segCheck(m.cpu, 3, 0xffd, 4, false)), [13, 0]);
    loadSeg(m.cpu, 5, 0x28);
    assert.equal(segCheck(m.cpu, 5, 0x1000, 4, true), 0x1000);
    assert.deepEqual(faultOf(() => segCheck(m.cpu, 5, 0xfff, 1, true)), [13, 0]);
    loadSeg(m.cpu, 2, 0x20);
    assert.deepEqual(faultOf(() => segCheck(m.cpu, 2, 0x1000, 4, true)), [12, 0]);
  });

  it('real mode: base = selector * 16', () => {
    const m = makeMachine();
    m.mem.view.setUint32(GDT_BASE + 0x10, 0x0000ffff, true);
    m.cpu.reset({
      eip: 0, eax: 0, ebx: 0, ecx: 0, edx: 0, esi: 0, edi: 0, ebp: 0, esp: 0, eflags: 2,
      cr0: 0, cr3: 0, cr4: 0, gdtBase: GDT_BASE, gdtLimit: 0x1f, cs: 0x1000, ds: 0x2000,
    });
    assert.equal(m.cpu.getSegment(1).base, 0x10000);
    loadSeg(m.cpu, 3, 0x1234);
    assert.equal(m.cpu.getSegment(3).base, 0x12340);
    assert.equal(m.cpu.csD, 0);
  });
});
