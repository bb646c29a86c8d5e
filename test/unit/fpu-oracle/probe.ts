/**
 * Debugging aid: node dist/test/unit/fpu-oracle/probe.js <modrm or opcode+modrm> <cw> <st0> [st1]
 * (register values as 20 hex digits, sign/exponent first) runs D9 <modrm> on
 * the host and on our Fpu (D9 unless an opcode is given, e.g. d8c9) and prints ST(0), ST(1) and the status word of each.
 */
import { buildOracle, runOracle, runOurs, Case } from './harness';

const [modrm, cw, ...regs] = process.argv.slice(2);
const img = new Uint8Array(108);
const dv = new DataView(img.buffer);
dv.setUint32(0, 0xFFFF0000 | parseInt(cw, 16), true);
dv.setUint32(4, 0xFFFF0000, true);
let tw = 0xFFFF;
regs.forEach((r, k) => {
  const v = r.padStart(20, '0');
  dv.setUint16(28 + 10 * k + 8, parseInt(v.slice(0, 4), 16), true);
  dv.setUint32(28 + 10 * k + 4, parseInt(v.slice(4, 12), 16), true);
  dv.setUint32(28 + 10 * k, parseInt(v.slice(12), 16), true);
  tw &= ~(3 << (2 * k));
});
dv.setUint32(8, 0xFFFF0000 | tw, true);
const c: Case = { state: img, mem: new Uint8Array(0), insn: modrm.length === 4 ? [parseInt(modrm.slice(0, 2), 16), parseInt(modrm.slice(2), 16)] : [0xD9, parseInt(modrm, 16)], eflags: 2 };
const bin = buildOracle();
if (bin instanceof Error) throw bin;
const show = (label: string, s: Uint8Array): void => {
  const d = new DataView(s.buffer, s.byteOffset);
  const reg = (k: number): string => d.getUint16(28 + 10 * k + 8, true).toString(16).padStart(4, '0')
    + d.getUint32(28 + 10 * k + 4, true).toString(16).padStart(8, '0') + d.getUint32(28 + 10 * k, true).toString(16).padStart(8, '0');
  console.log(`${label} sw ${d.getUint16(4, true).toString(16).padStart(4, '0')} ST0 ${reg(0)} ST1 ${reg(1)}`);
};
show('host', runOracle(bin, [c])[0].state);
show('ours', runOurs(c).state);
