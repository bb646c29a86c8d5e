import assert from 'node:assert/strict';
import { IoBus } from '../../src/guest/io-bus';
import { Uart } from '../../src/guest/platform/uart';
import { ports } from './platform-helpers';

const COM1 = 0x3f8;
const RX = COM1, TX = COM1, IER = COM1 + 1, IIR = COM1 + 2, FCR = COM1 + 2, LCR = COM1 + 3;
const MCR = COM1 + 4, LSR = COM1 + 5, MSR = COM1 + 6, SCR = COM1 + 7;

describe('platform: 16550A UART', () => {
  let uart: Uart;
  let sent: number[];
  let irq: { level: boolean; edges: number };
  let io: ReturnType<typeof ports>;

  beforeEach(() => {
    const bus = new IoBus();
    sent = [];
    irq = { level: false, edges: 0 };
    uart = new Uart({ write: (bytes) => sent.push(...bytes) }, (level) => {
      if (level && !irq.level) irq.edges++;
      irq.level = level;
    });
    bus.registerPorts(COM1, 8, uart);
    io = ports(bus);
  });

  it('passes the 8250 autoconfig() probe and is detected as a 16550A', () => {
    // IER existence test.
    const scratch = io.inb(IER);
    io.outb(0, IER);
    const scratch2 = io.inb(IER) & 0x0f;
    io.outb(0x0f, IER);
    const scratch3 = io.inb(IER) & 0x0f;
    io.outb(scratch, IER);
    assert.equal(scratch2, 0);
    assert.equal(scratch3, 0x0f);
    // Loopback test: RTS and OUT2 come back as CTS and DCD.
    const saveMcr = io.inb(MCR);
    io.outb(0x10 | 0x0a, MCR);
    assert.equal(io.inb(MSR) & 0xf0, 0x90);
    io.outb(saveMcr, MCR);
    // FIFO test: IIR bits 7-6 both set means a working 16550A FIFO.
    io.outb(0xbf, LCR);
    io.outb(0, FCR);
    io.outb(0, LCR);
    io.outb(0x01, FCR);
    assert.equal(io.inb(IIR) >> 6, 3);
    // Not a TI16750 (64-byte FIFO bit does not show in IIR).
    io.outb(0x21, FCR);
    assert.equal((io.inb(IIR) >> 5) & 1, 0);
    // Not an XScale: IER bit 6 does not stick.
    io.outb(0x40, IER);
    assert.equal(io.inb(IER) & 0x40, 0);
    io.outb(0, IER);
    assert.deepEqual(sent, []);
  });

  it('keeps the scratch register and the divisor latch', () => {
    io.outb(0xa5, SCR);
    assert.equal(io.inb(SCR), 0xa5);
    io.outb(0x80 | 0x03, LCR);
    io.outb(0x01, COM1);
    io.outb(0x00, COM1 + 1);
    assert.equal(io.inb(COM1) | (io.inb(COM1 + 1) << 8), 1);
    io.outb(0x03, LCR);
    assert.equal(io.inb(LCR), 0x03);
    io.outb(0x42, TX);
    assert.deepEqual(sent, [0x42], 'DLAB off: offset 0 is THR again');
  });

  it('always shows THRE and TEMT and sends THR bytes to the back end', () => {
    assert.equal(io.inb(LSR) & 0x60, 0x60);
    for (const b of Buffer.from('hi\n')) io.outb(b, TX);
    assert.equal(Buffer.from(sent).toString(), 'hi\n');
    assert.equal(io.inb(LSR) & 0x60, 0x60);
  });

  it('re-asserts THRE when THRI is enabled again (the THRE probe in serial8250_do_startup)', () => {
    io.outb(0x01, FCR);
    io.outb(0x02, IER);
    const iir1 = io.inb(IIR);
    io.outb(0, IER);
    io.outb(0x02, IER);
    const iir = io.inb(IIR);
    io.outb(0, IER);
    assert.equal(iir1, 0xc2);
    assert.equal(iir, 0xc2, 'no UART_BUG_THRE');
  });

  it('clears THRE on an IIR read and re-arms it on each THR write', () => {
    io.outb(0x02, IER);
    assert.equal(io.inb(IIR) & 0x0f, 0x02);
    assert.equal(io.inb(IIR) & 0x0f, 0x01);
    io.outb(0x41, TX);
    assert.equal(io.inb(IIR) & 0x0f, 0x02);
  });

  it('raises IRQ4 only with OUT2 set, and drops it once THRE is seen', () => {
    io.outb(0x02, IER);
    assert.equal(irq.level, false, 'OUT2 gates the interrupt on a PC');
    io.outb(0x08 | 0x03, MCR);
    assert.equal(irq.level, true);
    io.inb(IIR);
    assert.equal(irq.level, false);
    io.outb(0x41, TX);
    assert.equal(irq.level, true);
    assert.equal(irq.edges, 2);
  });

  it('loops THR back into RBR in loopback mode and keeps it from the back end', () => {
    io.outb(0x01, FCR);
    io.outb(0x10, MCR);
    io.outb(0x55, TX);
    io.outb(0xaa, TX);
    assert.deepEqual(sent, []);
    assert.equal(io.inb(LSR) & 0x01, 0x01);
    assert.equal(io.inb(RX), 0x55);
    assert.equal(io.inb(RX), 0xaa);
    assert.equal(io.inb(LSR) & 0x01, 0);
  });

  it('reports overrun when loopback overflows the FIFO', () => {
    io.outb(0x01, FCR);
    io.outb(0x10, MCR);
    for (let i = 0; i < 17; i++) io.outb(i, TX);
    assert.equal(io.inb(LSR) & 0x02, 0x02);
    assert.equal(io.inb(LSR) & 0x02, 0, 'reading LSR clears OE');
  });

  it('receives through a 16-byte FIFO with the rest waiting behind it', () => {
    io.outb(0x01 | 0x80, FCR); // FIFO on, trigger 8 (what Linux programs)
    io.outb(0x08, MCR);
    io.outb(0x01, IER);
    const input = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
    uart.receive(input);
    assert.equal(irq.level, true);
    assert.equal(io.inb(IIR) & 0x0f, 0x04, 'FIFO at or above the trigger level');
    const got: number[] = [];
    while (io.inb(LSR) & 0x01) got.push(io.inb(RX));
    assert.equal(Buffer.from(got).toString(), input.toString());
    assert.equal(io.inb(IIR) & 0x0f, 0x01);
    assert.equal(irq.level, false);
    assert.equal(uart.backlog, 0);
  });

  it('reports a character timeout for a FIFO below the trigger level', () => {
    io.outb(0x01 | 0xc0, FCR); // trigger 14
    io.outb(0x01, IER);
    uart.receive(Buffer.from('ab'));
    assert.equal(io.inb(IIR), 0xcc);
    io.outb(0x01 | 0x02, FCR); // clear RX FIFO
    assert.equal(io.inb(LSR) & 0x01, 0);
  });

  it('holds one byte without the FIFO', () => {
    uart.receive(Buffer.from('xy'));
    assert.equal(uart.backlog, 2);
    assert.equal(io.inb(RX), 0x78);
    assert.equal(io.inb(RX), 0x79);
    assert.equal(io.inb(LSR) & 0x01, 0);
  });

  it('presents a connected terminal on the modem inputs and reports loopback deltas', () => {
    assert.equal(io.inb(MSR), 0xb0);
    io.outb(0x10, MCR);
    assert.equal(io.inb(MSR), 0x0b, 'CTS, DSR and DCD fell: their delta bits');
    io.outb(0x10 | 0x04, MCR);
    assert.equal(io.inb(MSR), 0x40);
    io.outb(0x10, MCR);
    assert.equal(io.inb(MSR), 0x04, 'trailing edge of RI');
  });
});
