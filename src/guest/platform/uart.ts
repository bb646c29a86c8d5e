import { AccessSize, BusDevice } from '../io-bus';

/** Where the UART's transmitter goes: the launcher's console back end. */
export interface SerialBackend {
  write(bytes: Uint8Array): void;
}

const RX_FIFO_SIZE = 16;

const IER_RDI = 0x01;
const IER_THRI = 0x02;
const IER_RLSI = 0x04;
const IER_MSI = 0x08;

const IIR_NO_INT = 0x01;
const IIR_MSI = 0x00;
const IIR_THRI = 0x02;
const IIR_RDI = 0x04;
const IIR_RLSI = 0x06;
const IIR_RX_TIMEOUT = 0x0c;
const IIR_FIFOS_ENABLED = 0xc0;

const FCR_ENABLE = 0x01;
const FCR_CLEAR_RX = 0x02;

const LCR_DLAB = 0x80;

const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;

const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;

const MSR_DCTS = 0x01;
const MSR_DDSR = 0x02;
const MSR_TERI = 0x04;
const MSR_DDCD = 0x08;
const MSR_CTS = 0x10;
const MSR_DSR = 0x20;
const MSR_RI = 0x40;
const MSR_DCD = 0x80;

/** RX FIFO trigger levels selected by FCR bits 7-6. */
const TRIGGER = [1, 4, 8, 14];

/**
 * A 16550A UART, as on COM1 (0x3F8, IRQ4).
 *
 * The transmitter is infinitely fast: a byte written to THR is handed to
 * the back end at once and THR/TSR are empty again, so THRE and TEMT are
 * always set and every write re-arms the THRE interrupt, which is what the
 * Linux 8250 driver's THRE and TXEN probes expect from a real 16550A.
 * Received bytes wait in an unbounded input buffer behind the 16-byte FIFO,
 * which is topped up as the guest reads, so pasted input is never lost.
 * A FIFO holding fewer bytes than the trigger level reports the character
 * timeout interrupt straight away rather than after four character times.
 *
 * Loopback (MCR bit 4) feeds THR into the receiver and the modem outputs
 * into the modem inputs, which is how the 8250 driver decides a UART is
 * present. Outside loopback the modem inputs read as a connected terminal
 * (CTS, DSR, DCD), so opening ttyS0 does not wait for carrier.
 *
 * On a PC the interrupt reaches the PIC only while OUT2 is set; in loopback
 * the output pins (OUT2 among them) are disconnected, so no IRQ either.
 */
export class Uart implements BusDevice {
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private lsrErrors = 0;
  private msrDeltas = 0;
  private scr = 0;
  private divisor = 12;
  private fcr = 0;
  private readonly rxFifo: number[] = [];
  private readonly input: Uint8Array[] = [];
  private inputOffset = 0;
  /** The THRE interrupt is armed: THR went empty and nobody read IIR since. */
  private thrPending = false;
  private irqLevel = false;

  constructor(
    private readonly backend: SerialBackend,
    private readonly setIrq: (level: boolean) => void,
  ) {}

  /** Bytes from the outside world (the console's stdin) for the guest to read. */
  receive(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.input.push(bytes.slice());
    this.refill();
    this.updateIrq();
  }

  /** Bytes waiting for the guest, in the FIFO and behind it. */
  get backlog(): number {
    let n = this.rxFifo.length - this.inputOffset;
    for (const chunk of this.input) n += chunk.length;
    return n;
  }

  private get fifoEnabled(): boolean {
    return (this.fcr & FCR_ENABLE) !== 0;
  }

  private get capacity(): number {
    return this.fifoEnabled ? RX_FIFO_SIZE : 1;
  }

  private get loopback(): boolean {
    return (this.mcr & MCR_LOOP) !== 0;
  }

  private refill(): void {
    // In loopback the receiver hears only the transmitter.
    if (this.loopback) return;
    while (this.rxFifo.length < this.capacity && this.input.length > 0) {
      const chunk = this.input[0];
      this.rxFifo.push(chunk[this.inputOffset++]);
      if (this.inputOffset === chunk.length) {
        this.input.shift();
        this.inputOffset = 0;
      }
    }
  }

  private modemStatus(): number {
    if (!this.loopback) return MSR_CTS | MSR_DSR | MSR_DCD;
    let msr = 0;
    if (this.mcr & MCR_RTS) msr |= MSR_CTS;
    if (this.mcr & MCR_DTR) msr |= MSR_DSR;
    if (this.mcr & MCR_OUT1) msr |= MSR_RI;
    if (this.mcr & MCR_OUT2) msr |= MSR_DCD;
    return msr;
  }

  /** The highest priority pending interrupt, as IIR bits 3-0. */
  private interruptId(): number {
    if (this.ier & IER_RLSI && this.lsrErrors) return IIR_RLSI;
    if (this.ier & IER_RDI && this.rxFifo.length > 0) {
      const trigger = TRIGGER[this.fcr >> 6];
      return this.fifoEnabled && this.rxFifo.length < trigger ? IIR_RX_TIMEOUT : IIR_RDI;
    }
    if (this.ier & IER_THRI && this.thrPending) return IIR_THRI;
    if (this.ier & IER_MSI && this.msrDeltas) return IIR_MSI;
    return IIR_NO_INT;
  }

  private updateIrq(): void {
    const level = this.interruptId() !== IIR_NO_INT && (this.mcr & (MCR_OUT2 | MCR_LOOP)) === MCR_OUT2;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.setIrq(level);
    }
  }

  private transmit(byte: number): void {
    this.thrPending = false;
    if (this.loopback) {
      if (this.rxFifo.length < this.capacity) this.rxFifo.push(byte);
      else this.lsrErrors |= LSR_OE;
    } else {
      this.backend.write(Uint8Array.of(byte));
    }
    // The shift register empties at once, so THR is free again.
    this.thrPending = true;
  }

  private setMcr(value: number): void {
    const before = this.modemStatus();
    this.mcr = value & 0x1f;
    const after = this.modemStatus();
    // Delta bits record input changes (each sits four bits below its
    // input); RI only reports its trailing edge, as TERI.
    const changed = before ^ after;
    this.msrDeltas |= (changed >> 4) & (MSR_DCTS | MSR_DDSR | MSR_DDCD);
    if (before & MSR_RI && !(after & MSR_RI)) this.msrDeltas |= MSR_TERI;
    if (!this.loopback) this.refill();
  }

  private setFcr(value: number): void {
    if ((value ^ this.fcr) & FCR_ENABLE) {
      // Turning the FIFOs on or off empties them.
      this.rxFifo.length = 0;
    } else if (value & FCR_CLEAR_RX) {
      this.rxFifo.length = 0;
    }
    // With bit 0 clear the 16550A ignores the other bits.
    this.fcr = value & FCR_ENABLE ? value & 0xc9 : 0;
    this.refill();
  }

  read(offset: number, _size: AccessSize): number {
    let value: number;
    switch (offset) {
      case 0:
        if (this.lcr & LCR_DLAB) return this.divisor & 0xff;
        value = this.rxFifo.shift() ?? 0;
        this.refill();
        break;
      case 1:
        return this.lcr & LCR_DLAB ? this.divisor >> 8 : this.ier;
      case 2: {
        const id = this.interruptId();
        // Reading IIR while it reports THRE is what clears that interrupt.
        if (id === IIR_THRI) this.thrPending = false;
        value = id | (this.fifoEnabled ? IIR_FIFOS_ENABLED : 0);
        break;
      }
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5:
        value = (this.rxFifo.length > 0 ? LSR_DR : 0) | this.lsrErrors | LSR_THRE | LSR_TEMT;
        this.lsrErrors = 0;
        break;
      case 6:
        value = this.modemStatus() | this.msrDeltas;
        this.msrDeltas = 0;
        break;
      default:
        return this.scr;
    }
    this.updateIrq();
    return value;
  }

  write(offset: number, _size: AccessSize, value: number): void {
    value &= 0xff;
    switch (offset) {
      case 0:
        if (this.lcr & LCR_DLAB) this.divisor = (this.divisor & 0xff00) | value;
        else this.transmit(value);
        break;
      case 1:
        if (this.lcr & LCR_DLAB) {
          this.divisor = (this.divisor & 0xff) | (value << 8);
        } else {
          const changed = this.ier ^ value;
          this.ier = value & 0x0f;
          // Enabling THRI while THR is empty raises THRE again, even if
          // an IIR read had cleared it (Linux's THRE probe relies on this).
          if (changed & IER_THRI) this.thrPending = (this.ier & IER_THRI) !== 0;
        }
        break;
      case 2:
        this.setFcr(value);
        break;
      case 3:
        this.lcr = value;
        break;
      case 4:
        this.setMcr(value);
        break;
      case 7:
        this.scr = value;
        break;
      default:
        // LSR and MSR are read only.
        return;
    }
    this.updateIrq();
  }
}
