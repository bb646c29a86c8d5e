/**
 * A small WebAssembly binary encoder: just what the region compiler emits
 * (one function per module, imported memory and helpers, i32/i64/f64
 * arithmetic, structured control flow). Bytes go into one growable buffer,
 * so emitting an instruction is a few stores.
 */

export const enum Op {
  Unreachable = 0x00, Block = 0x02, Loop = 0x03, If = 0x04, Else = 0x05, End = 0x0b, Br = 0x0c, BrIf = 0x0d, BrTable = 0x0e,
  Return = 0x0f, Call = 0x10, Drop = 0x1a, Select = 0x1b,
  LocalGet = 0x20, LocalSet = 0x21, LocalTee = 0x22,
  I32Load = 0x28, F64Load = 0x2b, I32Load8S = 0x2c, I32Load8U = 0x2d, I32Load16S = 0x2e, I32Load16U = 0x2f,
  I32Store = 0x36, I32Store8 = 0x3a, I32Store16 = 0x3b,
  I32Const = 0x41, I64Const = 0x42, F64Const = 0x44,
  I32Eqz = 0x45, I32Eq = 0x46, I32Ne = 0x47, I32LtS = 0x48, I32LtU = 0x49, I32GtS = 0x4a, I32GtU = 0x4b,
  I32LeS = 0x4c, I32LeU = 0x4d, I32GeS = 0x4e, I32GeU = 0x4f,
  I64Ne = 0x52, I64GtU = 0x56, F64Le = 0x65,
  I32Popcnt = 0x69, I32Add = 0x6a, I32Sub = 0x6b, I32Mul = 0x6c, I32And = 0x71, I32Or = 0x72, I32Xor = 0x73,
  I32Shl = 0x74, I32ShrS = 0x75, I32ShrU = 0x76, I32Rotl = 0x77, I32Rotr = 0x78,
  I64Mul = 0x7e, I64DivS = 0x7f, I64DivU = 0x80, I64RemS = 0x81, I64RemU = 0x82, I64Or = 0x84, I64Shl = 0x86,
  I64ShrU = 0x88, F64Add = 0xa0, I32WrapI64 = 0xa7, I64ExtendI32S = 0xac, I64ExtendI32U = 0xad, F64ConvertI32U = 0xb8,
  I32Extend8S = 0xc0, I32Extend16S = 0xc1,
}

export const enum T {
  I32 = 0x7f,
  I64 = 0x7e,
  F64 = 0x7c,
  Void = 0x40,
}

export class Bytes {
  buf = new Uint8Array(4096);
  len = 0;

  byte(b: number): void {
    if (this.len === this.buf.length) {
      const n = new Uint8Array(this.buf.length * 2);
      n.set(this.buf);
      this.buf = n;
    }
    this.buf[this.len++] = b;
  }

  u32(v: number): void {
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
  }

  s32(v: number): void {
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.byte(b);
        return;
      }
      this.byte(b | 0x80);
    }
  }

  f64(v: number): void {
    const d = new DataView(new ArrayBuffer(8));
    d.setFloat64(0, v, true);
    for (let i = 0; i < 8; i++) this.byte(d.getUint8(i));
  }

  name(s: string): void {
    this.u32(s.length);
    for (let i = 0; i < s.length; i++) this.byte(s.charCodeAt(i));
  }

  append(b: Bytes): void {
    for (let i = 0; i < b.len; i++) this.byte(b.buf[i]);
  }

  /** A section: id, then its contents with their length in front. */
  section(id: number, body: Bytes): void {
    this.byte(id);
    this.u32(body.len);
    this.append(body);
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** A function body being emitted: instructions with their immediates. */
export class Code extends Bytes {
  op(o: Op): void {
    this.byte(o);
  }
  get(local: number): void {
    this.byte(Op.LocalGet);
    this.u32(local);
  }
  set(local: number): void {
    this.byte(Op.LocalSet);
    this.u32(local);
  }
  tee(local: number): void {
    this.byte(Op.LocalTee);
    this.u32(local);
  }
  i32(v: number): void {
    this.byte(Op.I32Const);
    this.s32(v);
  }
  i64(v: number): void {
    this.byte(Op.I64Const);
    let x = BigInt(v);
    for (;;) {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      if ((x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0)) {
        this.byte(b);
        return;
      }
      this.byte(b | 0x80);
    }
  }
  f64c(v: number): void {
    this.byte(Op.F64Const);
    this.f64(v);
  }
  /** A load or store with its alignment hint and constant offset. */
  mem(o: Op, offset: number): void {
    this.byte(o);
    this.u32(o === Op.F64Load ? 3 : o === Op.I32Load || o === Op.I32Store ? 2 : o === Op.I32Load16U || o === Op.I32Load16S || o === Op.I32Store16 ? 1 : 0);
    this.u32(offset);
  }
  call(f: number): void {
    this.byte(Op.Call);
    this.u32(f);
  }
  br(depth: number): void {
    this.byte(Op.Br);
    this.u32(depth);
  }
  begin(o: Op.Block | Op.Loop | Op.If, type: T = T.Void): void {
    this.byte(o);
    this.byte(type);
  }
}

export interface FuncType {
  params: T[];
  results: T[];
}

/** A function defined in the module: its type, its locals past the parameters, its body. */
export interface Func {
  type: FuncType;
  locals: T[];
  body: Code;
}

/** An import from module "e": the memory, the function table, or a function of type `type`. */
type Import = { name: string; kind: 'memory' | 'table' } | { name: string; kind: 'func'; type: number };

/** A module: its types, imports, functions (each naming its type) and the one function it exports. */
interface ModuleSpec {
  types: FuncType[];
  imports: Import[];
  funcs: { type: number; locals: T[]; body: Code }[];
  exportName: string;
  /** Function index (imported functions first). */
  exportIndex: number;
}

function encodeModule(spec: ModuleSpec): Uint8Array {
  const m = new Bytes();
  for (const b of [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]) m.byte(b);
  const ts = new Bytes();
  ts.u32(spec.types.length);
  for (const t of spec.types) {
    ts.byte(0x60);
    ts.u32(t.params.length);
    for (const p of t.params) ts.byte(p);
    ts.u32(t.results.length);
    for (const r of t.results) ts.byte(r);
  }
  m.section(1, ts);
  const is = new Bytes();
  is.u32(spec.imports.length);
  for (const imp of spec.imports) {
    is.name('e');
    is.name(imp.name);
    if (imp.kind === 'func') {
      is.byte(0x00);
      is.u32(imp.type);
    } else {
      // A memory, or a table of funcref (0x70); limits: no maximum, minimum 0.
      if (imp.kind === 'memory') is.byte(0x02);
      else {
        is.byte(0x01);
        is.byte(0x70);
      }
      is.byte(0x00);
      is.u32(0);
    }
  }
  m.section(2, is);
  const fs = new Bytes();
  fs.u32(spec.funcs.length);
  for (const f of spec.funcs) fs.u32(f.type);
  m.section(3, fs);
  const es = new Bytes();
  es.u32(1);
  es.name(spec.exportName);
  es.byte(0x00);
  es.u32(spec.exportIndex);
  m.section(7, es);
  const cs = new Bytes();
  cs.u32(spec.funcs.length);
  for (const f of spec.funcs) {
    const fn = new Bytes();
    fn.u32(f.locals.length);
    for (const l of f.locals) {
      fn.u32(1);
      fn.byte(l);
    }
    fn.append(f.body);
    fn.byte(Op.End);
    cs.u32(fn.len);
    cs.append(fn);
  }
  m.section(10, cs);
  return m.bytes();
}

/**
 * A module whose first defined function is exported as `run`, with imports
 * from module "e": the memory "mem" and the functions `imports` (in that
 * order, so they are function indices 0..n-1 and the module's own functions
 * follow from n).
 */
export function moduleBytes(imports: { name: string; type: FuncType }[], funcs: Func[]): Uint8Array {
  const n = imports.length;
  return encodeModule({
    types: [...imports.map((i) => i.type), ...funcs.map((f) => f.type)],
    imports: [{ name: 'mem', kind: 'memory' }, ...imports.map((imp, i) => ({ name: imp.name, kind: 'func' as const, type: i }))],
    funcs: funcs.map((f, i) => ({ type: n + i, locals: f.locals, body: f.body })),
    exportName: 'run',
    exportIndex: n,
  });
}

/**
 * The dispatcher: one exported function, call(slot, a, b, c) -> i32, that
 * calls entry `slot` of the imported table "e.tab" (functions of type
 * (i32, i32, i32) -> i32) with a, b, c. JS then calls every region through
 * one function, which V8 calls fast, where a call of each region's own
 * export would go through its generic, slower path.
 */
export function dispatcherBytes(): Uint8Array {
  const body = new Code();
  body.get(1);
  body.get(2);
  body.get(3);
  body.get(0);
  body.byte(0x11); // call_indirect type 0, table 0
  body.u32(0);
  body.u32(0);
  return encodeModule({
    types: [
      { params: [T.I32, T.I32, T.I32], results: [T.I32] },
      { params: [T.I32, T.I32, T.I32, T.I32], results: [T.I32] },
    ],
    imports: [{ name: 'tab', kind: 'table' }],
    funcs: [{ type: 1, locals: [], body }],
    exportName: 'call',
    exportIndex: 0,
  });
}
