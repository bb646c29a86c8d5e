import { AccessSize, BusDevice, IoBus } from '../io-bus';

/**
 * Port 0x92, "system control port A" (fast A20 and fast reset): bit 1 is
 * the A20 gate, kept but not enforced (see I8042); writing bit 0 as 1
 * resets the machine.
 */
export class FastResetPort {
  private value = 0x02;

  constructor(bus: IoBus, private readonly reset: () => void) {
    bus.registerPorts(0x92, 1, {
      read: () => this.value,
      write: (_offset, _size, value) => {
        this.value = value & 0x02;
        if (value & 0x01) this.reset();
      },
    });
  }
}

const RCR_SYS_RST = 0x02;
const RCR_RST_CPU = 0x04;
const RCR_FULL_RST = 0x08;

/**
 * The PIIX reset control register at 0xCF9 (a byte port inside the PCI
 * configuration window, so the host bridge forwards byte accesses here).
 * Linux's reboot=pci writes bit 1 (hard reset), then sets bit 2, which
 * resets the machine.
 */
export class ResetControlRegister implements BusDevice {
  private value = 0;

  constructor(private readonly reset: () => void) {}

  read(_offset: number, _size: AccessSize): number {
    return this.value;
  }

  write(_offset: number, _size: AccessSize, value: number): void {
    // RST_CPU does not stick: the reset it starts clears it.
    this.value = value & (RCR_SYS_RST | RCR_FULL_RST);
    if (value & RCR_RST_CPU) this.reset();
  }
}
