import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeOne, entryFor, M, R, STRIDE, TRUNCATED } from '../../src/guest/cpu/decoder';
import { ARITH, DF, IF } from '../../src/guest/cpu/flags';
import { H } from '../../src/guest/cpu/handler-ids';
import { OPCODES } from '../../src/guest/cpu/opcodes';

/** Assemble each line separately (one nasm run, via its listing) and return the bytes per line. */
function assembleLines(lines: string[], bits = 32): Uint8Array[] {
  const dir = mkdtempSync(join(tmpdir(), 'cpu-decoder-'));
  writeFileSync(join(dir, 'a.asm'), `bits ${bits}\n` + lines.join('\n') + '\n');
  execFileSync('nasm', ['-f', 'bin', '-o', join(dir, 'a.bin'), '-l', join(dir, 'a.lst'), join(dir, 'a.asm')]);
  const bin = readFileSync(join(dir, 'a.bin'));
  const offsets: number[] = [];
  for (const line of readFileSync(join(dir, 'a.lst'), 'utf8').split('\n')) {
    const m = /^\s*(\d+)\s+([0-9A-F]{8})\s+[0-9A-F]/.exec(line);
    if (m && Number(m[1]) >= 2 && offsets.length < Number(m[1]) - 1) offsets.push(parseInt(m[2], 16));
  }
  offsets.push(bin.length);
  return lines.map((_, i) => bin.subarray(offsets[i], offsets[i + 1]));
}

function decode(bytes: Uint8Array, csD = true): { len: number; rec: Int32Array } {
  const rec = new Int32Array(STRIDE);
  const buf = new Uint8Array(32);
  buf.set(bytes);
  return { len: decodeOne(buf, 0, bytes.length, csD, rec, 0), rec };
}

describe('cpu decoder', () => {
  it('opcode table: each (opcode, ModRM.reg, form) has at most one entry, with sane flags', () => {
    const seen = new Map<string, string>();
    for (const e of OPCODES) {
      assert.match(e.mnemonic, /^[a-z0-9]+$/, `${e.opcode.toString(16)}`);
      assert.equal(e.flagsDefined & ~(ARITH | DF | IF), 0, e.mnemonic);
      assert.equal(e.flagsDefined & e.flagsUndefined, 0, e.mnemonic);
      assert.ok(e.h > H.EXIT && e.h < H.COUNT, e.mnemonic);
      for (let reg = 0; reg < 8; reg++) {
        if (e.ext !== undefined && e.ext !== reg) continue;
        for (const form of ['reg', 'mem']) {
          if (e.form !== undefined && e.form !== form) continue;
          const key = `${e.opcode}/${reg}/${form}`;
          assert.ok(!seen.has(key), `${key}: ${seen.get(key)} and ${e.mnemonic}`);
          seen.set(key, e.mnemonic);
        }
      }
    }
  });

  it('every handler the executor has is reachable from the table', () => {
    const used = new Set(OPCODES.map((e) => e.h));
    for (let h = H.EXIT + 1; h < H.COUNT; h++) assert.ok(used.has(h), `handler ${h} unused`);
  });

  it('decodes instruction lengths exactly as nasm encodes them', () => {
    const lines = [
      'nop', 'mov eax, ebx', 'mov eax, [ebx]', 'mov eax, [ebx+4]', 'mov eax, [ebx+0x12345678]',
      'mov eax, [0x12345678]', 'mov eax, [esp]', 'mov eax, [esp+8]', 'mov eax, [ebp]', 'mov eax, [ebp-4]',
      'mov eax, [eax+ecx*4]', 'mov eax, [eax+ecx*8+0x1000]', 'mov eax, [ecx*2+0x10]', 'lea edx, [eax+ebx*2+7]',
      'add dword [eax], 5', 'add dword [eax], 0x500', 'add byte [eax+1], 5', 'add ax, 0x1234', 'add eax, 0x12345678',
      'add al, 1', 'mov ax, [bx+si]', 'mov ax, [bp+di+4]', 'a16 mov eax, [0x1234]',
      'mov word [eax], 0x1234', 'mov dword [eax+4], 0x12345678', 'mov al, [0x12345678]', 'mov [0x12345678], eax',
      'imul eax, ebx, 10', 'imul eax, [ebx], 1000', 'shl eax, 3', 'shl dword [eax], 1', 'shr eax, cl',
      'shld eax, ebx, 5', 'shrd [eax], ebx, cl', 'bt eax, 5', 'bts dword [eax], ebx', 'cmpxchg8b [esi]',
      'cmovne eax, [ebx]', 'setz al', 'movzx eax, byte [ebx]', 'movsx eax, word [ebx+ecx]', 'bswap ecx',
      'jmp short $', 'jmp near $', 'call $+0x1000', 'jz near $', 'jnz short $', 'loop $', 'jecxz $',
      'ret', 'ret 8', 'retf', 'retf 4', 'iretd', 'int 0x80', 'int3', 'enter 16, 0', 'leave',
      'jmp 0x10:0x12345678', 'call 0x10:0x1234', 'jmp far [eax]', 'call far [eax+4]', 'call [eax]', 'jmp eax',
      'push 5', 'push 0x12345', 'push dword [eax]', 'pop dword [eax]', 'push fs', 'pop gs', 'pushad', 'popfd',
      'rep movsd', 'rep stosb', 'repne scasb', 'repe cmpsd', 'lodsw', 'fs lodsb', 'insb', 'outsd',
      'in al, 0x60', 'out dx, eax', 'lock xadd [eax], ebx', 'lock cmpxchg [ecx], edx', 'xchg eax, ecx', 'xchg [eax], bl',
      'mov cr0, eax', 'mov eax, cr3', 'mov dr7, ebx', 'lgdt [eax]', 'lidt [0x1234]', 'sgdt [eax]', 'invlpg [eax]',
      'ltr ax', 'lldt [eax]', 'lar eax, bx', 'lsl eax, [ebx]', 'verr ax', 'smsw eax', 'lmsw ax', 'clts',
      'wrmsr', 'rdtsc', 'rdmsr', 'cpuid', 'sysenter', 'sysexit', 'hlt', 'cli', 'sti', 'ud2',
      'nop dword [eax+eax*1+0x0]', 'nop word [eax+eax*1+0x0]', 'fld dword [eax]', 'fstp tword [ebx+4]',
      'fadd st0, st3', 'fnstsw ax', 'fxsave [eax]', 'fwait', 'daa', 'aam', 'aad 7', 'xlatb', 'bound eax, [ebx]',
      'arpl [eax], bx', 'lds esi, [eax]', 'lss esp, [eax]', 'mov es, ax', 'mov [eax], ds', 'sahf', 'cwde', 'cdq',
    ];
    const encoded = assembleLines(lines);
    lines.forEach((line, i) => {
      const { len, rec } = decode(encoded[i]);
      assert.equal(len, encoded[i].length, `${line}: ${Buffer.from(encoded[i]).toString('hex')}`);
      assert.notEqual(rec[R.H], H.UD, line);
    });
  });

  it('decodes 16-bit code with the size prefixes inverted', () => {
    const lines = ['mov ax, [bx+si+4]', 'mov eax, [ebx]', 'add ax, 0x1234', 'jmp near $', 'push 0x1234', 'mov ax, [0x1234]'];
    const encoded = assembleLines(lines, 16);
    lines.forEach((line, i) => {
      const { len, rec } = decode(encoded[i], false);
      assert.equal(len, encoded[i].length, line);
      if (line === 'mov eax, [ebx]') assert.equal(rec[R.M] & (M.O16 | M.A16), 0, 'both prefixes give 32 bits');
      if (line === 'mov ax, [bx+si+4]') assert.equal(rec[R.M] & (M.O16 | M.A16), M.O16 | M.A16);
    });
  });

  it('records operands: ModRM fields, sizes, immediates, segment override, rep', () => {
    const [add, stos, seg] = assembleLines(['add dword [ebx+ecx*4+8], -3', 'rep stosd', 'mov eax, [fs:ebp+4]']);
    let d = decode(add);
    assert.equal(d.rec[R.H], H.ALU_EvI);
    assert.equal((d.rec[R.M] >> M.KIND_SHIFT) & 15, 0);
    assert.ok(d.rec[R.M] & M.MEM);
    assert.equal(d.rec[R.EA] & 0xfff, 3 | (1 << 4) | (2 << 8));
    assert.equal(d.rec[R.DISP], 8);
    assert.equal(d.rec[R.IMM], -3);
    d = decode(stos);
    assert.equal(d.rec[R.H], H.STOSV);
    assert.ok(d.rec[R.M] & M.REP);
    d = decode(seg);
    assert.equal((d.rec[R.EA] >> 12) & 7, 4, 'fs override');
    const [plain] = assembleLines(['mov eax, [ebp+4]']);
    assert.equal((decode(plain).rec[R.EA] >> 12) & 7, 2, 'ebp-based addresses default to ss');
  });

  it('marks invalid encodings #UD and over-long ones #GP(0); reports truncation', () => {
    for (const hex of ['d6', '0fff', '8dc0', '0f01f8', 'c4c0', 'ffff', '0f0d00', '0f77', 'd9d1', 'd9e2']) {
      const { rec } = decode(Buffer.from(hex, 'hex'));
      assert.equal(rec[R.H], H.UD, hex);
    }
    const long = Buffer.from('66'.repeat(14) + '0501000000', 'hex');
    assert.equal(decode(long).rec[R.H], H.GP0);
    const rec = new Int32Array(STRIDE);
    assert.equal(decodeOne(Buffer.from('b8010000', 'hex'), 0, 4, true, rec, 0), TRUNCATED);
    assert.equal(decodeOne(Buffer.from('0f', 'hex'), 0, 1, true, rec, 0), TRUNCATED);
  });

  it('gives the table entry back for logging', () => {
    assert.equal(entryFor(0x100 | 0xa2, 0, false)?.mnemonic, 'cpuid');
    assert.equal(entryFor(0x81, 5, true)?.mnemonic, 'sub');
    assert.equal(entryFor(0x8d, 0, false), undefined, 'lea has no register form');
  });
});
