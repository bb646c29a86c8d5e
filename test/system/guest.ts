import { assemble, boot, makeMachine, runToHalt, TestMachine } from './harness';
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

/** Boot PRELUDE + `body` (which defines test_main) and run it to hlt. */
export function runSystemGuest(body: string, machine: TestMachine = makeMachine()): TestMachine {
  boot(machine, assemble(`${PRELUDE}\n${body}\n`));
  runToHalt(machine);
  return machine;
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
