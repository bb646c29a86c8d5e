/**
 * Cases about decoding rather than any one table entry: the 15-byte
 * instruction length limit, and every encoding the table leaves out (opcode
 * bytes, group ModRM.reg values, x87 ModRM bytes), which the core must reject
 * with #UD wherever the host does.
 */
import { OPCODES, OpcodeInfo, PREFIXES } from '../../src/guest/cpu/opcodes';
import { x87Lookup } from '../../src/guest/cpu/fpu/fpu-opcodes';
import { Builder, Form, hex } from './builder';
import type { TestCase } from './generator';
import { CODE_OFFSET } from './layout';
import { Rng } from './rng';

export const LENGTH_KEY = 'decoder: instruction length limit (15 bytes)';
export const HOLES_KEY = 'decoder: encodings absent from the table';
export const LOCK_KEY = 'decoder: lock prefix (#UD unless on a read-modify-write of memory)';

/**
 * Encodings never run on the host: they enter the kernel (syscall, sysenter,
 * int 0x80) with whatever the random registers say.
 */
const NEVER = new Set([0x105, 0x134]);

function plain(rng: Rng, key: string, text: string, code: number[]): TestCase {
  const e: OpcodeInfo = { opcode: 0x90, mnemonic: 'nop', operands: '', flagsDefined: 0, flagsUndefined: 0 };
  const b = new Builder(rng, e, { o16: false, a16: false, mem: false, ldt: false, extra: [] });
  const c = b.build();
  return { ...c, code: Uint8Array.from(code), codeOffset: CODE_OFFSET, key, text: `${text} bytes ${code.map((x) => hex(x)).join(' ')}`, undef: 0 };
}

export function lengthCases(): TestCase[] {
  const rng = Rng.from(LENGTH_KEY);
  const out: TestCase[] = [];
  for (const n of [13, 14, 15]) {
    const pfx = Array.from({ length: n }, () => rng.pick([0x3e, 0x26, 0x66, 0x2e]));
    out.push(plain(rng, LENGTH_KEY, `${n} prefixes + nop`, [...pfx, 0x90]));
    out.push(plain(rng, LENGTH_KEY, `${n} prefixes + add eax, imm32`, [...pfx.filter((p) => p !== 0x66), 0x05, 1, 2, 3, 4]));
    out.push(plain(rng, LENGTH_KEY, `${n} prefixes + add ax, imm16`, [...pfx, 0x66, 0x05, 1, 2]));
  }
  return out;
}

/** One case per encoding the table does not list: opcode bytes, group extensions (both forms), x87 ModRM bytes. */
export function holeCases(): TestCase[] {
  const rng = Rng.from(HOLES_KEY);
  const listed = new Set(OPCODES.map((e) => e.opcode));
  const groups = new Map<number, Set<number>>();
  for (const e of OPCODES) {
    if (e.ext === undefined) continue;
    if (!groups.has(e.opcode)) groups.set(e.opcode, new Set());
    groups.get(e.opcode)!.add(e.ext);
  }
  const out: TestCase[] = [];
  const opBytes = (op: number): number[] => (op >= 0x100 ? [0x0f, op & 0xff] : [op]);
  for (let op = 0; op < 0x200; op++) {
    if (op === 0x0f || NEVER.has(op) || PREFIXES.includes(op) || listed.has(op)) continue;
    // A register-form ModRM byte, in case the host decodes one; int3 bytes follow.
    out.push(plain(rng, HOLES_KEY, `opcode ${op >= 0x100 ? '0f ' : ''}${hex(op & 0xff)}`,
      [...opBytes(op), 0xc0 | rng.int(64)]));
  }
  for (const [op, exts] of groups) {
    for (let ext = 0; ext < 8; ext++) {
      if (exts.has(ext)) continue;
      for (const mem of [false, true]) {
        const e: OpcodeInfo = { opcode: op, ext, mnemonic: `(${hex(op)}/${ext})`, operands: 'Ev', flagsDefined: 0, flagsUndefined: 0 };
        const form: Form = { o16: false, a16: false, mem, ldt: false, extra: [] };
        const b = new Builder(rng, e, form);
        b.layoutModrm(ext, 4);
        const c = b.build();
        out.push({ ...c, key: HOLES_KEY, text: b.describe(c.code), undef: 0 });
      }
    }
  }
  // The register form of memory-only entries (lea, bound, les, cmpxchg8b...).
  for (const e of OPCODES) {
    if (e.form !== 'mem' || OPCODES.some((o) => o.opcode === e.opcode && o.ext === e.ext && o.form !== 'mem')) continue;
    const b = new Builder(rng, e, { o16: false, a16: false, mem: false, ldt: false, extra: [] });
    b.layoutModrm(e.ext ?? null, 4);
    const c = b.build();
    out.push({ ...c, key: HOLES_KEY, text: `register form of ${b.describe(c.code)}`, undef: 0 });
  }
  for (let op = 0xd8; op <= 0xdf; op++) {
    for (let modrm = 0xc0; modrm < 0x100; modrm++) {
      if (x87Lookup(op, modrm) !== undefined) continue;
      out.push(plain(rng, HOLES_KEY, `x87 ${hex(op)} ${hex(modrm)}`, [op, modrm]));
    }
  }
  return out;
}
