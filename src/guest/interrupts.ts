/**
 * The CPU's INTR line. The platform's interrupt controller (the 8259A pair)
 * implements it; the CPU samples it at block boundaries when IF is set.
 */
export interface InterruptLine {
  /** True when an unmasked interrupt request is waiting. */
  pending(): boolean;
  /** The CPU accepts the interrupt: returns its vector (the INTA cycle). */
  acknowledge(): number;
}
