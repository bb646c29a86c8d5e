/**
 * The host-CPU oracle: builds the native runner (a 32-bit Linux program) and
 * runs batches of cases through it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CODE_ADDR, CODE_SIZE, LDT_SEL, PATTERN_SEED, SCRATCH_ADDR, SCRATCH_SIZE, USER_DS } from './layout';
import { Case, EndState, decodeResults, encodeCases } from './wire';

/** The C and assembly sources stay in the source tree; tsc does not copy them to dist/. */
const SOURCE_DIR = resolve(__dirname, '../../../test/conformance/native');
const SOURCES = ['runner.c', 'enter.S'];

const DEFINES = {
  CODE_ADDR,
  CODE_SIZE,
  SCRATCH_ADDR,
  SCRATCH_SIZE,
  LDT_SEL,
  USER_DS,
  PATTERN_SEED,
};

/** Compiles the runner into the temp directory (once per source version) and returns its path. */
export function buildRunner(): string {
  const hash = createHash('sha256');
  for (const f of SOURCES) hash.update(readFileSync(join(SOURCE_DIR, f)));
  hash.update(JSON.stringify(DEFINES));
  const out = join(tmpdir(), `lguest-conformance-runner-${hash.digest('hex').slice(0, 12)}`);
  if (existsSync(out)) return out;
  const defs = Object.entries(DEFINES).map(([k, v]) => `-D${k}=0x${v.toString(16)}`);
  // Built under a private name and renamed into place, so concurrent test runs never see half a file.
  const tmp = `${out}.${process.pid}.tmp`;
  const args = ['-m32', '-O2', '-no-pie', '-fno-stack-protector', '-Wall', '-Werror', ...defs, '-o', tmp,
    ...SOURCES.map((f) => join(SOURCE_DIR, f))];
  try {
    execFileSync('gcc', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    const text = err.stderr ? err.stderr.toString() : err.message;
    const hint = /bits\/|gnu\/stubs-32|cannot find -lgcc|skipping incompatible|ENOENT/.test(text + err.message)
      ? ' (32-bit toolchain missing: apt-get install -y gcc-multilib)'
      : '';
    throw new Error(`cannot build the conformance runner${hint}:\n${text}`);
  }
  renameSync(tmp, out);
  return out;
}

/** Runs cases on the host CPU; returns their end states by case id. */
export function runNative(runner: string, cases: readonly Case[], timeoutMs = 600_000): Map<number, EndState> {
  const r = spawnSync(runner, [], { input: encodeCases(cases), maxBuffer: 1 << 30, timeout: timeoutMs });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`conformance runner failed (status ${r.status}, signal ${r.signal}): ${r.stderr.toString()}`);
  }
  const results = decodeResults(r.stdout);
  if (results.size !== cases.length) {
    throw new Error(`conformance runner returned ${results.size} results for ${cases.length} cases`);
  }
  return results;
}
