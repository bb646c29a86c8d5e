/**
 * The core against the host CPU, instruction by instruction.
 *
 * Every case of every opcode-table entry (and of the x87 table) runs twice:
 * natively in the 32-bit runner (native/runner.c), as a ring-3 Linux process,
 * and in the TypeScript core set up as the same ring-3 process
 * (machine.ts). The end states must agree: registers, EIP, the defined
 * flags, segment selectors, the scratch memory, the x87 image, and the
 * exception that ended the case. The integer instructions' cases also run
 * through the translator (every block translated on its first run), which
 * has fast paths of its own for them.
 *
 * One test per table entry, named after it, so `--grep` picks one
 * instruction. CONFORMANCE_FULL=1 runs eight times as many random cases.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { OPCODES } from '../../src/guest/cpu/opcodes';
import { X87_OPCODES } from '../../src/guest/cpu/fpu/fpu-opcodes';
import { compareStates, describeInput, vectorName } from './compare';
import { HOLES_KEY, LENGTH_KEY, LOCK_KEY, holeCases, lengthCases } from './decoder-cases';
import { TestCase, casesForEntry, entryKey, lockCasesForEntry, lockSkipReason, skipReason } from './generator';
import { CoreMachine } from './machine';
import { buildRunner, runNative } from './native';
import type { EndState } from './wire';
import { casesForX87, x87Key } from './x87';

const SCALE = process.env.CONFORMANCE_FULL === '1' ? 8 : 1;
/** Failing cases shown in full per test. */
const SHOWN = 3;

interface Group {
  title: string;
  make: () => TestCase[];
  cases: TestCase[];
  /** Opcode (one byte, or 0x100|b) the group exercises, for the coverage count. */
  opcode?: number;
}

const userGroups: Group[] = [];
const systemGroups: Group[] = [];
const skipped: string[] = [];
for (const e of OPCODES) {
  if (e.mnemonic === 'x87') continue; // the x87 table's own entries below
  const reason = skipReason(e);
  if (reason) {
    skipped.push(`${entryKey(e)}: ${reason}`);
    continue;
  }
  const g: Group = { title: entryKey(e), make: () => casesForEntry(e, SCALE), cases: [], opcode: e.opcode };
  (e.system ? systemGroups : userGroups).push(g);
}
const x87Groups: Group[] = X87_OPCODES.filter((e) => !e.system)
  .map((e) => ({ title: x87Key(e), make: () => casesForX87(e, SCALE), cases: [], opcode: e.opcode }));
const decoderGroups: Group[] = [
  { title: LENGTH_KEY, make: lengthCases, cases: [] },
  { title: LOCK_KEY, make: () => OPCODES.flatMap(lockCasesForEntry), cases: [] },
  { title: HOLES_KEY, make: holeCases, cases: [] },
];
const allGroups = [...userGroups, ...systemGroups, ...x87Groups, ...decoderGroups];

function hostCpu(): string {
  try {
    return /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

describe('conformance: the core against the host CPU', function () {
  let expected: Map<number, EndState>;
  let machine: CoreMachine;
  /** The same core translating every block to JavaScript on its first run (translate.ts). */
  let translating: CoreMachine;
  /** Encodings the host executes that the table leaves out (information, not failures). */
  const hostOnly: string[] = [];

  before(function () {
    this.timeout(20 * 60 * 1000);
    let id = 0;
    const all: TestCase[] = [];
    for (const g of allGroups) {
      g.cases = g.make();
      for (const c of g.cases) {
        c.id = id++;
        all.push(c);
      }
    }
    expected = runNative(buildRunner(), all);
    machine = new CoreMachine();
    translating = new CoreMachine();
    translating.cpu.compileAfter = 1;
  });

  /** The differences between the host's end state and the core's (interpreting, and translating if asked). */
  function differences(c: TestCase, exp: EndState, translated: boolean): string[] {
    const of = (core: CoreMachine, how: string): string[] => {
      try {
        return compareStates(c, exp, core.run(c)).map((d) => how + d);
      } catch (e) {
        return [`${how}the core threw ${(e as Error).stack ?? e}`];
      }
    };
    if (translated) translatedRuns++;
    return translated ? [...of(machine, ''), ...of(translating, 'translated: ')] : of(machine, '');
  }
  let translatedRuns = 0;

  /**
   * Runs a group's cases in the core and fails with the first differences,
   * named and explained. `translated`: also through the translator, where
   * the integer instructions have their own fast paths.
   */
  function check(g: Group, translated: boolean, onlyWhere?: (exp: EndState, c: TestCase) => boolean): void {
    const shown: string[] = [];
    let failed = 0;
    let compared = 0;
    for (const c of g.cases) {
      const exp = expected.get(c.id)!;
      if (onlyWhere && !onlyWhere(exp, c)) continue;
      compared++;
      const diffs = differences(c, exp, translated);
      if (!diffs.length) continue;
      if (failed++ < SHOWN) shown.push(`case ${c.id}: ${c.text}\n    input: ${describeInput(c)}\n    ${diffs.join('\n    ')}`);
    }
    if (failed) {
      assert.fail(`${failed} of ${compared} cases differ from the host (expected = host, got = core):\n${shown.join('\n')}`);
    }
  }

  describe('the opcode table is the source of the tests', function () {
    it('every non-system entry has cases', function () {
      const missing = OPCODES.filter((e) => !e.system && e.mnemonic !== 'x87')
        .filter((e) => !userGroups.find((g) => g.title === entryKey(e))?.cases.length);
      assert.deepEqual(missing.map(entryKey), []);
      // The table's x87 escape entries are covered through the x87 table.
      const x87 = OPCODES.filter((e) => e.mnemonic === 'x87')
        .filter((e) => !x87Groups.some((g) => g.opcode === e.opcode && g.cases.length));
      assert.deepEqual(x87.map(entryKey), []);
    });

    it('every x87 encoding has cases', function () {
      assert.deepEqual(x87Groups.filter((g) => !g.cases.length).map((g) => g.title), []);
    });
  });

  describe('integer instructions', function () {
    for (const g of userGroups) it(g.title, () => check(g, true));
  });

  describe('system instructions, as a ring-3 process sees them', function () {
    for (const g of systemGroups) it(g.title, () => check(g, false));
  });

  describe('x87', function () {
    for (const g of x87Groups) it(g.title, () => check(g, false));
  });

  describe('decoder', function () {
    it(LENGTH_KEY, () => check(decoderGroups[0], false));
    it(LOCK_KEY, () => check(decoderGroups[1], false));
    it(`${HOLES_KEY}: #UD wherever the host raises #UD`, () => {
      check(decoderGroups[2], false, (exp, c) => {
        if (exp.vector === 6) return true;
        hostOnly.push(`${c.text.replace(/ bytes .*/, '')} (host: ${vectorName(exp.vector, exp.err)})`);
        return false;
      });
    });
  });

  describe('compiled regions', function () {
    it('ran the translated cases as compiled wasm, not only in the interpreter', function () {
      if (translatedRuns === 0) this.skip();
      // Every case rewrites the one code page; "compile everything" compiles it afresh each time.
      const compiled = translating.cpu.regions.compiled;
      assert.ok(compiled >= translatedRuns / 2, `${compiled} regions compiled for ${translatedRuns} cases`);
    });
  });

  after(function () {
    if (!expected) return;
    const cases = allGroups.reduce((n, g) => n + g.cases.length, 0);
    const entries = [...userGroups, ...systemGroups].filter((g) => g.cases.length);
    const opcodes = new Set(entries.map((g) => g.opcode));
    const x87 = x87Groups.filter((g) => g.cases.length).length;
    console.log(`\n  conformance: ${cases} cases on ${hostCpu()}: ${entries.length} opcode-table entries ` +
      `(${opcodes.size} distinct opcodes; ${systemGroups.length} of them system entries run at CPL 3), ` +
      `${x87} x87 encodings, ${decoderGroups.reduce((n, g) => n + g.cases.length, 0)} decoder cases`);
    console.log(`  not compared (${skipped.length} system entries a process cannot run deterministically):`);
    for (const s of skipped) console.log(`    ${s}`);
    const lockSkipped = OPCODES.map(lockSkipReason).filter((r): r is string => r !== null);
    console.log(`  lock prefix not compared (${lockSkipped.length} encodings where the host's vendor and the core's differ):`);
    for (const r of lockSkipped) console.log(`    ${r}`);
    if (hostOnly.length) {
      console.log(`  encodings absent from the table that the host does not reject with #UD (${hostOnly.length}, not compared):`);
      console.log(`    ${hostOnly.join('; ')}`);
    }
  });
});
