import assert from 'node:assert/strict';
import { IoBus } from '../../src/guest/io-bus';
import { I8042 } from '../../src/guest/platform/i8042';
import { FastResetPort } from '../../src/guest/platform/reset-control';
import { ports } from './platform-helpers';

const STR_OBF = 0x01;
const STR_IBF = 0x02;
const STR_AUXDATA = 0x20;
const STR_TIMEOUT = 0x40;

describe('platform: i8042 keyboard controller and reset ports', () => {
  let io: ReturnType<typeof ports>;
  let resets: number;
  let irqLevels: Record<number, boolean>;
  let irqEdges: Record<number, number>;

  beforeEach(() => {
    const bus = new IoBus();
    resets = 0;
    irqLevels = { 1: false, 12: false };
    irqEdges = { 1: 0, 12: 0 };
    new I8042(bus, () => resets++, (irq, level) => {
      if (level && !irqLevels[irq]) irqEdges[irq]++;
      irqLevels[irq] = level;
    });
    new FastResetPort(bus, () => resets++);
    io = ports(bus);
  });

  /** __i8042_command(): write the command, its parameters, then read the results. */
  function command(cmd: number, params: number[] = []): { status: number; data: number }[] {
    assert.equal(io.inb(0x64) & STR_IBF, 0);
    io.outb(cmd & 0xff, 0x64);
    for (const p of params) io.outb(p, 0x60);
    const out = [];
    for (let i = 0; i < ((cmd >> 8) & 0xf); i++) {
      const status = io.inb(0x64);
      assert.ok(status & STR_OBF, `result ${i} of command 0x${cmd.toString(16)}`);
      out.push({ status, data: io.inb(0x60) });
    }
    return out;
  }

  it('passes Linux probing: flush, self-test, CTR read/write', () => {
    assert.equal(io.inb(0x64) & STR_OBF, 0, 'nothing to flush');
    assert.equal(command(0x01aa)[0].data, 0x55);
    const ctr = command(0x0120)[0].data;
    assert.equal(ctr, 0x65);
    assert.equal(io.inb(0x64) & 0x10, 0x10, 'keylock not active');
    command(0x1060, [(ctr | 0x10) & ~0x01]);
    assert.equal(command(0x0120)[0].data, 0x74);
  });

  it('echoes the AUX loopback on the aux side (i8042_check_aux) and raises IRQ12 when enabled', () => {
    const [r] = command(0x11d3, [0x5a]);
    assert.equal(r.data, 0x5a);
    assert.ok(r.status & STR_AUXDATA);
    assert.equal(irqEdges[12], 0, 'AUXINT off');
    command(0x00a7);
    assert.equal(command(0x0120)[0].data & 0x20, 0x20);
    command(0x00a8);
    const ctr = command(0x0120)[0].data;
    assert.equal(ctr & 0x20, 0);
    command(0x1060, [(ctr | 0x02) & ~0x20]);
    io.outb(0xd3, 0x64);
    io.outb(0xa5, 0x60);
    assert.equal(irqEdges[12], 1);
    assert.equal(io.inb(0x60), 0xa5);
    assert.equal(irqLevels[12], false);
  });

  it('answers 0xFE with the timeout bit for bytes sent to the absent keyboard and mouse', () => {
    io.outb(0xf2, 0x60); // ATKBD_CMD_GETID
    const status = io.inb(0x64);
    assert.equal(status & (STR_OBF | STR_TIMEOUT | STR_AUXDATA), STR_OBF | STR_TIMEOUT);
    assert.equal(io.inb(0x60), 0xfe);
    assert.equal(irqEdges[1], 1, 'KBDINT is on from the BIOS');
    command(0x10d4, [0xf2]); // I8042_CMD_AUX_SEND
    assert.equal(io.inb(0x64) & (STR_TIMEOUT | STR_AUXDATA), STR_TIMEOUT | STR_AUXDATA);
    assert.equal(io.inb(0x60), 0xfe);
  });

  it('gives each queued byte its own IRQ1 edge', () => {
    io.outb(0xd2, 0x64);
    io.outb(0x11, 0x60);
    io.outb(0xd2, 0x64);
    io.outb(0x22, 0x60);
    assert.equal(irqEdges[1], 1);
    assert.equal(io.inb(0x60), 0x11);
    assert.equal(irqEdges[1], 2);
    assert.equal(io.inb(0x60), 0x22);
    assert.equal(irqLevels[1], false);
  });

  it('resets on 0xFE, the way native_machine_emergency_restart() does it', () => {
    for (let i = 0; i < 10 && resets === 0; i++) {
      while (io.inb(0x64) & STR_IBF) {
        /* kb_wait() */
      }
      io.outb(0xfe, 0x64);
    }
    assert.equal(resets, 1);
  });

  it('resets when the output port drops the reset line', () => {
    const out = command(0x01d0)[0].data;
    assert.equal(out & 0x03, 0x03);
    io.outb(0xd1, 0x64);
    io.outb(out | 0x01, 0x60);
    assert.equal(resets, 0);
    io.outb(0xd1, 0x64);
    io.outb(out & ~0x01, 0x60);
    assert.equal(resets, 1);
  });

  it('resets through the fast reset bit of port 0x92', () => {
    assert.equal(io.inb(0x92), 0x02);
    io.outb(0x02, 0x92);
    assert.equal(resets, 0);
    io.outb(0x03, 0x92);
    assert.equal(resets, 1);
  });
});
