import { IoBus } from '../io-bus';

const STR_OBF = 0x01;
const STR_SYS = 0x04;
const STR_CMDDAT = 0x08;
const STR_KEYLOCK = 0x10;
const STR_AUXDATA = 0x20;
const STR_TIMEOUT = 0x40;

const CTR_KBDINT = 0x01;
const CTR_AUXINT = 0x02;
const CTR_SYS = 0x04;
const CTR_KBDDIS = 0x10;
const CTR_AUXDIS = 0x20;
const CTR_XLATE = 0x40;

/** Output port: bit 0 is the CPU's reset line (active low), bit 1 the A20 gate. */
const OUT_RESET = 0x01;
const OUT_A20 = 0x02;

/** What a PS/2 port answers when no device is plugged in. */
const NO_DEVICE = 0xfe;

interface Output {
  byte: number;
  aux: boolean;
  timeout: boolean;
}

/**
 * The i8042 keyboard controller at 0x60 (data) and 0x64 (status/command).
 *
 * Its job here is to let Linux's i8042 driver probe a healthy controller
 * quickly (self-test, CTR read/write, the AUX loopback and IRQ12 test) and
 * to reset the machine: command 0xFE, or any output-port write dropping the
 * reset line, calls `reset()`, which is how Linux reboots without ACPI.
 * No keyboard or mouse is attached: a byte sent to either port comes back
 * as 0xFE with the timeout bit, so atkbd and psmouse give up at once instead
 * of waiting out their timeouts. The console is the serial port.
 *
 * The A20 gate is kept as a bit only: the CPU starts in protected mode and
 * Linux never turns A20 off.
 */
export class I8042 {
  /** Controller RAM; byte 0 is the controller configuration byte (CTR). */
  private readonly ram = new Uint8Array(32);
  private outputPort = OUT_RESET | OUT_A20;
  private readonly queue: Output[] = [];
  /** A command waiting for its parameter byte on the data port. */
  private pendingCommand = 0;
  private lastWasCommand = false;
  private kbdIrq = false;
  private auxIrq = false;

  constructor(
    bus: IoBus,
    private readonly reset: () => void,
    /** Drives IRQ1 (keyboard) or IRQ12 (aux). */
    private readonly setIrq: (irq: 1 | 12, level: boolean) => void,
  ) {
    // As a BIOS leaves it: translated keyboard with interrupts, aux off.
    this.ram[0] = CTR_XLATE | CTR_AUXDIS | CTR_SYS | CTR_KBDINT;
    bus.registerPorts(0x60, 1, {
      read: () => this.readData(),
      write: (_offset, _size, value) => this.writeData(value & 0xff),
    });
    bus.registerPorts(0x64, 1, {
      read: () => this.status(),
      write: (_offset, _size, value) => this.command(value & 0xff),
    });
  }

  private get ctr(): number {
    return this.ram[0];
  }

  private status(): number {
    const head = this.queue[0];
    let s = STR_KEYLOCK | (this.ctr & CTR_SYS ? STR_SYS : 0) | (this.lastWasCommand ? STR_CMDDAT : 0);
    if (head) {
      s |= STR_OBF;
      if (head.aux) s |= STR_AUXDATA;
      if (head.timeout) s |= STR_TIMEOUT;
    }
    return s;
  }

  private push(byte: number, aux = false, timeout = false): void {
    this.queue.push({ byte, aux, timeout });
    this.updateIrqs();
  }

  private updateIrqs(): void {
    const head = this.queue[0];
    const kbd = !!head && !head.aux && (this.ctr & CTR_KBDINT) !== 0;
    const aux = !!head && head.aux && (this.ctr & CTR_AUXINT) !== 0;
    if (kbd !== this.kbdIrq) this.setIrq(1, (this.kbdIrq = kbd));
    if (aux !== this.auxIrq) this.setIrq(12, (this.auxIrq = aux));
  }

  private readData(): number {
    const head = this.queue.shift();
    if (!head) return 0;
    // Reading empties the output buffer, dropping the IRQ line; a queued
    // byte then refills it, raising the line again (a fresh edge).
    if (this.kbdIrq) this.setIrq(1, (this.kbdIrq = false));
    if (this.auxIrq) this.setIrq(12, (this.auxIrq = false));
    this.updateIrqs();
    return head.byte;
  }

  private writeOutputPort(value: number): void {
    this.outputPort = value;
    if (!(value & OUT_RESET)) {
      this.outputPort |= OUT_RESET;
      this.reset();
    }
  }

  private writeData(value: number): void {
    this.lastWasCommand = false;
    const cmd = this.pendingCommand;
    this.pendingCommand = 0;
    if (cmd >= 0x60 && cmd <= 0x7f) {
      this.ram[cmd - 0x60] = value;
      this.updateIrqs();
    } else if (cmd === 0xd1) {
      this.writeOutputPort(value);
    } else if (cmd === 0xd2) {
      this.push(value);
    } else if (cmd === 0xd3) {
      this.push(value, true);
    } else if (cmd === 0xd4) {
      this.push(NO_DEVICE, true, true);
    } else {
      // A byte for the keyboard; sending to it re-enables its interface.
      this.ram[0] &= ~CTR_KBDDIS;
      this.push(NO_DEVICE, false, true);
    }
  }

  private command(cmd: number): void {
    this.lastWasCommand = true;
    if ((cmd >= 0x60 && cmd <= 0x7f) || (cmd >= 0xd1 && cmd <= 0xd4)) {
      this.pendingCommand = cmd;
      return;
    }
    if (cmd >= 0x20 && cmd <= 0x3f) {
      this.push(this.ram[cmd - 0x20]);
      return;
    }
    if (cmd >= 0xf0) {
      // Pulse the output port bits whose command bit is clear; bit 0 is reset.
      if (!(cmd & 1)) this.reset();
      return;
    }
    switch (cmd) {
      case 0xa7: this.ram[0] |= CTR_AUXDIS; break;
      case 0xa8: this.ram[0] &= ~CTR_AUXDIS; break;
      case 0xa9: this.push(0x00); break; // aux interface test: no error
      case 0xaa: this.push(0x55); break; // controller self-test passed
      case 0xab: this.push(0x00); break; // keyboard interface test: no error
      case 0xad: this.ram[0] |= CTR_KBDDIS; break;
      case 0xae: this.ram[0] &= ~CTR_KBDDIS; break;
      case 0xc0: this.push(0x80); break; // input port: keyboard not inhibited
      case 0xd0: this.push(this.outputPort); break;
      case 0xdd: this.outputPort &= ~OUT_A20; break;
      case 0xdf: this.outputPort |= OUT_A20; break;
      default: break; // unknown commands are ignored, as the chip does
    }
    this.updateIrqs();
  }
}
