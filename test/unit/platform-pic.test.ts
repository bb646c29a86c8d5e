import assert from 'node:assert/strict';
import { IoBus } from '../../src/guest/io-bus';
import { Pic } from '../../src/guest/platform/pic';
import { ports } from './platform-helpers';

/** Linux's ISA_IRQ_VECTOR(0) on i386. */
const BASE = 0x30;

/** init_8259A(0) from arch/x86/kernel/i8259.c, then unmask what `mask` leaves clear. */
function linuxInit(bus: IoBus, autoEoi = false, mask = 0x0000): void {
  const { outb } = ports(bus);
  outb(0xff, 0x21);
  outb(0x11, 0x20);
  outb(BASE, 0x21);
  outb(1 << 2, 0x21);
  outb(autoEoi ? 0x03 : 0x01, 0x21);
  outb(0x11, 0xa0);
  outb(BASE + 8, 0xa1);
  outb(2, 0xa1);
  outb(0x01, 0xa1);
  outb(mask & 0xff, 0x21);
  outb(mask >> 8, 0xa1);
}

describe('platform: 8259A PIC pair', () => {
  let bus: IoBus;
  let pic: Pic;
  let io: ReturnType<typeof ports>;

  beforeEach(() => {
    bus = new IoBus();
    pic = new Pic(bus);
    io = ports(bus);
  });

  it('passes probe_8259A: the master mask reads back', () => {
    io.outb(0xff, 0xa1);
    io.outb(0xfb, 0x21);
    assert.equal(io.inb(0x21), 0xfb);
    assert.equal(io.inb(0xa1), 0xff);
  });

  it('starts with everything masked, so nothing reaches the CPU before Linux programs it', () => {
    pic.pulseIrq(0);
    assert.equal(pic.pending(), false);
  });

  it('delivers by priority and holds lower priorities until a specific EOI', () => {
    linuxInit(bus);
    pic.pulseIrq(3);
    pic.pulseIrq(1);
    assert.equal(pic.pending(), true);
    assert.equal(pic.acknowledge(), BASE + 1);
    // IRQ1 in service blocks IRQ3 ...
    assert.equal(pic.pending(), false);
    // ... while a higher priority one (IRQ0) may nest.
    pic.pulseIrq(0);
    assert.equal(pic.pending(), true);
    assert.equal(pic.acknowledge(), BASE + 0);
    io.outb(0x60 + 0, 0x20);
    assert.equal(pic.pending(), false);
    io.outb(0x60 + 1, 0x20);
    assert.equal(pic.pending(), true);
    assert.equal(pic.acknowledge(), BASE + 3);
  });

  it('shows IRR and ISR through OCW3, as i8259A_irq_real() reads them', () => {
    linuxInit(bus);
    pic.pulseIrq(4);
    pic.pulseIrq(6);
    assert.equal(io.inb(0x20), 0x50); // IRR is the default read register
    assert.equal(pic.acknowledge(), BASE + 4);
    assert.equal(io.inb(0x20), 0x40);
    io.outb(0x0b, 0x20);
    assert.equal(io.inb(0x20), 0x10);
    io.outb(0x0a, 0x20);
    assert.equal(io.inb(0x20), 0x40);
  });

  it('non-specific EOI retires the highest priority in-service IRQ', () => {
    linuxInit(bus);
    pic.pulseIrq(5);
    assert.equal(pic.acknowledge(), BASE + 5);
    pic.pulseIrq(2 + 1);
    assert.equal(pic.acknowledge(), BASE + 3);
    io.outb(0x20, 0x20);
    io.outb(0x0b, 0x20);
    assert.equal(io.inb(0x20), 0x20);
  });

  it('cascades the slave through IR2 and needs EOIs to both, as mask_and_ack_8259A sends them', () => {
    linuxInit(bus);
    pic.pulseIrq(10);
    assert.equal(pic.pending(), true);
    assert.equal(pic.acknowledge(), BASE + 10);
    io.outb(0x0b, 0x20);
    io.outb(0x0b, 0xa0);
    assert.equal(io.inb(0x20), 0x04);
    assert.equal(io.inb(0xa0), 0x04);
    pic.pulseIrq(12);
    assert.equal(pic.pending(), false, 'slave IRQ12 waits behind IRQ10 in service');
    io.outb(0x60 + 2, 0xa0);
    io.outb(0x60 + 2, 0x20);
    assert.equal(pic.pending(), true);
    assert.equal(pic.acknowledge(), BASE + 12);
  });

  it('masks in IMR but keeps the request latched', () => {
    linuxInit(bus, false, 0xffff & ~(1 << 2));
    pic.pulseIrq(4);
    assert.equal(pic.pending(), false);
    io.outb(0xff & ~(1 << 2) & ~(1 << 4), 0x21);
    assert.equal(pic.pending(), true);
    assert.equal(pic.acknowledge(), BASE + 4);
  });

  it('latches edges but follows level-triggered (ELCR) lines', () => {
    linuxInit(bus);
    io.outb(0x0c, 0x4d1); // IRQ 10 and 11 level triggered
    assert.equal(io.inb(0x4d1), 0x0c);
    pic.setIrq(11, true);
    pic.setIrq(11, false);
    assert.equal(pic.pending(), false, 'a level request vanishes with its line');
    pic.setIrq(3, true);
    pic.setIrq(3, false);
    assert.equal(pic.pending(), true, 'an edge stays latched');
  });

  it('re-raises a level line still high after EOI', () => {
    linuxInit(bus);
    pic.setLevelTriggered(10);
    pic.setIrq(10, true);
    assert.equal(pic.acknowledge(), BASE + 10);
    io.outb(0x62, 0xa0);
    io.outb(0x62, 0x20);
    assert.equal(pic.pending(), true);
    assert.equal(pic.acknowledge(), BASE + 10);
  });

  it('keeps the reserved ELCR bits (IRQ 0, 1, 2, 8, 13) edge triggered', () => {
    io.outb(0xff, 0x4d0);
    io.outb(0xff, 0x4d1);
    assert.equal(io.inb(0x4d0), 0xf8);
    assert.equal(io.inb(0x4d1), 0xde);
  });

  it('answers an acknowledge with nothing requested with spurious IRQ7 and no ISR bit', () => {
    linuxInit(bus);
    assert.equal(pic.acknowledge(), BASE + 7);
    io.outb(0x0b, 0x20);
    assert.equal(io.inb(0x20), 0);
  });

  it('drops a vanished slave request from the master too (the cascade follows the slave)', () => {
    linuxInit(bus);
    pic.setLevelTriggered(9);
    pic.setIrq(9, true);
    assert.equal(pic.pending(), true);
    pic.setIrq(9, false);
    assert.equal(pic.pending(), false);
    assert.equal(pic.acknowledge(), BASE + 7);
    io.outb(0x0b, 0xa0);
    assert.equal(io.inb(0xa0), 0);
  });

  it('does not set ISR in auto-EOI mode', () => {
    linuxInit(bus, true);
    pic.pulseIrq(1);
    assert.equal(pic.acknowledge(), BASE + 1);
    io.outb(0x0b, 0x20);
    assert.equal(io.inb(0x20), 0);
    pic.pulseIrq(3);
    assert.equal(pic.pending(), true);
  });

  it('answers the poll command with the highest request and acknowledges it', () => {
    linuxInit(bus);
    pic.pulseIrq(6);
    io.outb(0x0c, 0x20);
    assert.equal(io.inb(0x20), 0x86);
    io.outb(0x0b, 0x20);
    assert.equal(io.inb(0x20), 0x40);
    io.outb(0x0c, 0x20);
    assert.equal(io.inb(0x20), 0x00);
  });

  it('rotates priorities on a rotating EOI', () => {
    linuxInit(bus);
    pic.pulseIrq(0);
    assert.equal(pic.acknowledge(), BASE + 0);
    io.outb(0xa0, 0x20); // rotate on non-specific EOI: IRQ0 becomes lowest
    pic.pulseIrq(0);
    pic.pulseIrq(5);
    assert.equal(pic.acknowledge(), BASE + 5);
  });

  it('re-initialisation forgets edges and in-service state', () => {
    linuxInit(bus);
    pic.pulseIrq(3);
    pic.pulseIrq(4);
    assert.equal(pic.acknowledge(), BASE + 3);
    linuxInit(bus);
    assert.equal(pic.pending(), false);
    io.outb(0x0b, 0x20);
    assert.equal(io.inb(0x20), 0);
  });
});
