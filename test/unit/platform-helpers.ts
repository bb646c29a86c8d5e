import { IoBus } from '../../src/guest/io-bus';
import { VirtualClock } from '../../src/guest/clock';

/**
 * A virtual clock in instruction-count mode at 1 ns per "instruction", with
 * the counter under the test's control: time only moves when the test says.
 */
export function manualClock(): { clock: VirtualClock; advance(ns: number): void; now(): number } {
  const clock = new VirtualClock(1);
  let ns = 0;
  clock.followInstructions(() => ns);
  return {
    clock,
    advance: (delta: number) => {
      ns += delta;
    },
    now: () => ns,
  };
}

/** inb/outb and friends over an IoBus, spelled as Linux spells them (value first on out). */
export function ports(bus: IoBus) {
  return {
    inb: (port: number) => bus.in(port, 1),
    inw: (port: number) => bus.in(port, 2),
    inl: (port: number) => bus.in(port, 4) >>> 0,
    outb: (value: number, port: number) => bus.out(port, 1, value),
    outw: (value: number, port: number) => bus.out(port, 2, value),
    outl: (value: number, port: number) => bus.out(port, 4, value),
  };
}
