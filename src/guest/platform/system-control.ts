import { IoBus } from '../io-bus';
import { VirtualClock } from '../clock';
import { Pit } from './pit';

/** The DRAM refresh request toggles every 15.085 us (PIT channel 1's old job). */
const REFRESH_PERIOD_NS = 15085;

/**
 * Port 0x61, "system control port B": bit 0 gates PIT channel 2, bit 1
 * enables the speaker, bits 2-3 are the parity/channel check enables; on
 * reading, bit 4 is the refresh toggle old delay loops poll, bit 5 is
 * channel 2's OUT (Linux's TSC calibration waits on it), and bits 6-7 are
 * the NMI sources (IOCHK, SERR), never set here.
 */
export class SystemControl {
  private bits = 0;

  constructor(bus: IoBus, private readonly clock: VirtualClock, private readonly pit: Pit) {
    bus.registerPorts(
      0x61,
      1,
      {
        read: () => this.read(),
        write: (_offset, _size, value) => this.write(value),
      },
      true,
    );
  }

  private read(): number {
    const refresh = Math.floor(this.clock.nowNs() / REFRESH_PERIOD_NS) & 1;
    return (this.bits & 0x0f) | (refresh << 4) | (this.pit.out2() ? 0x20 : 0);
  }

  private write(value: number): void {
    this.bits = value & 0x0f;
    this.pit.setGate2((value & 1) !== 0);
  }
}
