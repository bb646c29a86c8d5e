import { strict as assert } from 'node:assert';
import { FAULT } from '../../src/guest/cpu/fault';
import { Mmu, MmuHost } from '../../src/guest/cpu/mmu';
import { IoBus } from '../../src/guest/io-bus';
import { GuestMemory } from '../../src/guest/memory';
import { CpuState } from '../../src/guest/cpu/state';

const PD = 0x10000;
const PT = 0x11000;
const PG_WP = 0x80010001 | 0;

class Host implements MmuHost {
  cr2 = 0;
  written: number[] = [];
  codeWritten(page: number): void {
    this.written.push(page);
  }
}

function setup(): { mmu: Mmu; mem: GuestMemory; host: Host; bus: IoBus } {
  const mem = GuestMemory.create(4 << 20);
  const host = new Host();
  const bus = new IoBus();
  const mmu = new Mmu(mem, bus, host, new CpuState(mem));
  // 0x400000-0x7fffff through one page table, initially empty; 0-4 MiB identity with a 4 MiB page
  mem.view.setUint32(PD, 0x00000087, true);
  mem.view.setUint32(PD + 4, PT | 0x7, true);
  mmu.setControl(PG_WP, PD, 0x10);
  return { mmu, mem, host, bus };
}

function pte(mem: GuestMemory, lin: number, value: number): void {
  mem.view.setUint32(PT + ((lin >>> 12) & 0x3ff) * 4, value, true);
}

function faultOf(f: () => void): { vector: number; code: number } {
  try {
    f();
  } catch (e) {
    if (e !== FAULT) throw e;
    return { vector: FAULT.vector, code: FAULT.errorCode };
  }
  assert.fail('no fault');
}

describe('cpu MMU and TLB', () => {
  it('translates through a page table and sets accessed/dirty bits', () => {
    const { mmu, mem } = setup();
    pte(mem, 0x401000, 0x200000 | 0x7);
    mem.view.setUint32(0x200010, 0xcafe, true);
    assert.equal(mmu.rd32(0x401010), 0xcafe);
    assert.equal(mem.view.getUint32(PT + 4, true) & 0x60, 0x20);
    mmu.wr32(0x401014, 7);
    assert.equal(mem.view.getUint32(0x200014, true), 7);
    assert.equal(mem.view.getUint32(PT + 4, true) & 0x60, 0x60);
  });

  it('4 MiB pages map with PSE', () => {
    const { mmu, mem } = setup();
    mem.view.setUint32(0x123456, 0xabcd, true);
    assert.equal(mmu.rd32(0x123456), 0xabcd);
  });

  it('raises #PF with CR2 and P/W/U bits', () => {
    const { mmu, mem, host } = setup();
    assert.deepEqual(faultOf(() => mmu.rd8(0x402000)), { vector: 14, code: 0 });
    assert.equal(host.cr2, 0x402000);
    pte(mem, 0x403000, 0x200000 | 0x5); // user, read-only
    mmu.setUser(true);
    assert.deepEqual(faultOf(() => mmu.wr8(0x403001, 1)), { vector: 14, code: 7 });
    assert.equal(host.cr2, 0x403001);
    pte(mem, 0x404000, 0x200000 | 0x3); // supervisor only
    assert.deepEqual(faultOf(() => mmu.rd8(0x404000)), { vector: 14, code: 5 });
    mmu.setUser(false);
    assert.equal(mmu.rd8(0x404000), 0, 'supervisor may read it');
    assert.deepEqual(faultOf(() => mmu.wr8(0x403000, 1)), { vector: 14, code: 3 }, 'CR0.WP protects read-only pages from ring 0');
  });

  it('a write that crosses into a faulting page changes neither page', () => {
    const { mmu, mem } = setup();
    pte(mem, 0x405000, 0x200000 | 0x7);
    mem.view.setUint32(0x200ffc, 0x11111111, true);
    assert.equal(faultOf(() => mmu.wr32(0x405ffe, 0x22222222)).vector, 14);
    assert.equal(mem.view.getUint32(0x200ffc, true), 0x11111111);
  });

  it('keeps global entries across a non-global flush; invlpg drops one', () => {
    const { mmu, mem } = setup();
    pte(mem, 0x406000, 0x200000 | 0x107);
    pte(mem, 0x407000, 0x201000 | 0x7);
    mmu.setControl(PG_WP, PD, 0x10 | 0x80);
    mem.view.setUint32(0x200000, 1, true);
    mem.view.setUint32(0x201000, 2, true);
    mem.view.setUint32(0x202000, 3, true);
    assert.equal(mmu.rd32(0x406000), 1);
    assert.equal(mmu.rd32(0x407000), 2);
    pte(mem, 0x406000, 0x202000 | 0x107);
    pte(mem, 0x407000, 0x202000 | 0x7);
    assert.equal(mmu.rd32(0x406000), 1, 'stale until flushed, as on hardware');
    mmu.flush(true);
    assert.equal(mmu.rd32(0x406000), 1, 'global survives');
    assert.equal(mmu.rd32(0x407000), 3);
    mmu.invlpg(0x406000);
    assert.equal(mmu.rd32(0x406000), 3);
  });

  it('sends writes to pages holding code through the slow path, which reports them', () => {
    const { mmu, mem, host } = setup();
    pte(mem, 0x408000, 0x200000 | 0x67);
    mmu.wr32(0x408000, 1); // fills the write TLB
    mmu.markCode(0x200);
    mmu.wr32(0x408004, 2);
    assert.deepEqual(host.written, [0x200]);
    assert.equal(mem.view.getUint32(0x200004, true), 2);
  });

  it('routes physical addresses past RAM to the bus and never caches them', () => {
    const { mmu, mem, bus } = setup();
    const log: string[] = [];
    bus.registerMmio(0xfe000000, 0x1000, { read: (o, s) => (log.push(`r${o}/${s}`), 0x42), write: (o, s, v) => log.push(`w${o}/${s}=${v}`) });
    pte(mem, 0x409000, 0xfe000000 | 0x13);
    assert.equal(mmu.rd32(0x409008), 0x42);
    assert.equal(mmu.rd32(0x409008), 0x42);
    mmu.wr16(0x409002, 0xbeef);
    assert.deepEqual(log, ['r8/4', 'r8/4', 'w2/2=48879']);
  });

  it('with paging off, linear is physical', () => {
    const { mmu, mem } = setup();
    mmu.setControl(0x1, 0, 0);
    mmu.flush(false);
    mem.u8[0x1234] = 9;
    assert.equal(mmu.rd8(0x1234), 9);
  });
});
