import { assemble, boot, makeMachine, runBothWays, runToHalt, TestMachine } from './harness';
import { PRELUDE, RESULTS } from './prelude';

/** What the prelude's default handler recorded. */
export interface Recorded {
  vector: number;
  errorCode: number;
  cr2: number;
  eip: number;
  cs: number;
  esp: number;
}

/**
 * Boot PRELUDE + `body` (which defines test_main) and run it to hlt, both
 * interpreted and translated (harness.runBothWays). `setup` builds each
 * machine, for tests that attach devices.
 */
export function runSystemGuest(body: string, setup: () => TestMachine = makeMachine): TestMachine {
  const image = assemble(`${PRELUDE}\n${body}\n`);
  return runBothWays(setup, (m) => {
    boot(m, image);
    runToHalt(m);
  });
}

export function recorded(m: TestMachine): Recorded {
  const v = m.mem.view;
  return {
    vector: v.getUint32(RESULTS, true),
    errorCode: v.getUint32(RESULTS + 4, true),
    cr2: v.getUint32(RESULTS + 8, true),
    eip: v.getUint32(RESULTS + 12, true),
    cs: v.getUint32(RESULTS + 16, true) & 0xffff,
    esp: v.getUint32(RESULTS + 20, true),
  };
}

/** The address of `label` in the assembled guest (from a nasm map of PRELUDE + body). */
export function u32(m: TestMachine, addr: number): number {
  return m.mem.view.getUint32(addr, true);
}
