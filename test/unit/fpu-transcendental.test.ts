/**
 * The transcendental instructions against the host's x87, in units in the
 * last place of the 64-bit significand: seeded random operands over the
 * ranges libm uses them on, every rounding mode and precision control.
 * Every result must be within 1 ulp of the host's (the double-based
 * implementation was 1,000-3,000 ulp away), at least 90% must agree bit for
 * bit, and where they agree the status word must agree too (C1 for all but
 * a few percent: the hardware's own rounding is not exact).
 */
import * as assert from 'assert';
import { buildOracle } from './fpu-oracle/harness';
import { measure, formatReports, INSNS } from './fpu-oracle/ulp';

const CASES = Number(process.env.FPU_ULP_CASES ?? 600);
const SEED = Number(process.env.FPU_ULP_SEED ?? 0x13);

describe('x87 transcendental accuracy against the host CPU', function () {
  this.timeout(300000);
  const oracle = buildOracle();
  for (const insn of INSNS) {
    it(`${insn.name}: within 1 ulp, mostly bit-exact, with the host's flags`, function () {
      if (oracle instanceof Error) this.skip();
      const [r] = measure(CASES, SEED, insn.name);
      const text = formatReports([r]);
      assert.strictEqual(r.maxUlp <= 1, true, text);
      assert.ok(r.ulpCounts[0] >= 0.9 * r.cases, text);
      assert.strictEqual(r.swDiff, 0, text);
      assert.ok(r.c1Diff <= 0.1 * r.cases, text);
    });
  }
});
