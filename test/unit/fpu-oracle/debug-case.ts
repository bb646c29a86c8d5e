/**
 * Debugging aid: node dist/test/unit/fpu-oracle/debug-case.js <insn> <state> <mem|-> <eflags>
 * (the fields a failing oracle test prints) runs the case on the host and on
 * our Fpu and prints both outcomes side by side.
 */
import { buildOracle, runOracle, runOurs, Case, Outcome } from './harness';

function show(label: string, o: Outcome): void {
  if (o.kind !== 'ok') { console.log(label, o.kind); return; }
  const dv = new DataView(o.state.buffer, o.state.byteOffset);
  const regs: string[] = [];
  for (let i = 0; i < 8; i++) {
    const off = 28 + 10 * i;
    regs.push(`ST${i}=${dv.getUint16(off + 8, true).toString(16).padStart(4, '0')}:${dv.getUint32(off + 4, true).toString(16).padStart(8, '0')}${dv.getUint32(off, true).toString(16).padStart(8, '0')}`);
  }
  console.log(`${label} cw=${dv.getUint16(0, true).toString(16)} sw=${dv.getUint16(4, true).toString(16)} tw=${dv.getUint16(8, true).toString(16)} ax=${o.ax.toString(16)} fl=${(o.eflags & 0x8d5).toString(16)} mem=${Buffer.from(o.mem).toString('hex')}`);
  console.log('   ' + regs.join(' '));
}

const [insn, state, mem, eflags] = process.argv.slice(2);
const c: Case = {
  insn: Array.from(Buffer.from(insn, 'hex')), state: new Uint8Array(Buffer.from(state, 'hex')),
  mem: mem === '-' || mem === undefined ? new Uint8Array(0) : new Uint8Array(Buffer.from(mem, 'hex')),
  eflags: parseInt(eflags ?? '2', 16),
};
const bin = buildOracle();
if (bin instanceof Error) throw bin;
const inCase: Outcome = { kind: 'ok', state: c.state, mem: c.mem, ax: 0x12345678, eflags: c.eflags };
console.log('insn', insn);
show('input', inCase);
show('host ', runOracle(bin, [c])[0]);
show('ours ', runOurs(c));
