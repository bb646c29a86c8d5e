import { GuestError } from './guest-error';

/**
 * Bytes after guest RAM that belong to the CPU: the state that compiled code
 * and the interpreter share (registers, segment bases and limits, the TLB;
 * cpu/state.ts lays them out).
 */
export const CPU_STATE_BYTES = (16 << 20) + (64 << 10);

const WASM_PAGE = 65536;

/**
 * A WebAssembly memory with room for `ramBytes` of guest RAM at address 0 and
 * the CPU's state after it. Its size is fixed: growing would detach every
 * view of it. Throws RangeError when the host will not give the memory.
 */
export function wasmMemoryFor(ramBytes: number): WebAssembly.Memory {
  const pages = Math.ceil((ramBytes + CPU_STATE_BYTES) / WASM_PAGE);
  return new WebAssembly.Memory({ initial: pages, maximum: pages });
}

/**
 * Guest "physical" memory: RAM from guest physical 0 to `size`.
 *
 * RAM is the start of a WebAssembly memory, so guest physical P is wasm
 * address P for compiled guest code (cpu/wasm). In the launcher the native
 * addon maps RAM over that memory (guest physical P is also launcher virtual
 * base + P); in tests it is the wasm memory's own zero pages. Device-only
 * tests may pass a plain ArrayBuffer, which no CPU can run on. Either way the
 * CPU and the devices see one buffer and never copy it.
 */
export class GuestMemory {
  readonly u8: Uint8Array;
  readonly view: DataView;

  constructor(
    readonly buffer: ArrayBuffer,
    readonly size = buffer.byteLength,
    readonly wasm?: WebAssembly.Memory,
  ) {
    this.u8 = new Uint8Array(buffer, 0, size);
    this.view = new DataView(buffer, 0, size);
  }

  /** `size` bytes of zeroed RAM in a fresh WebAssembly memory, for a CPU to run on. */
  static create(size: number): GuestMemory {
    const wasm = wasmMemoryFor(size);
    return new GuestMemory(wasm.buffer, size, wasm);
  }

  /**
   * The one check every guest-supplied address goes through before a device
   * touches it (the role of lguest_address_ok()). A bad address is the
   * guest's fault, so it kills the guest with a reason instead of throwing a
   * launcher bug.
   */
  check(addr: number, len: number, what = 'read'): void {
    if (!Number.isInteger(addr) || !Number.isInteger(len) || addr < 0 || len < 0 || addr + len > this.size) {
      throw new GuestError(`bad ${what} address 0x${(addr >>> 0).toString(16)} len ${len}`);
    }
  }

  /**
   * Devices (DMA) are about to write [addr, addr+len) behind the CPU's back.
   * The machine points this at the CPU, which drops code it decoded from
   * those pages, as it does for its own writes: a page the guest reads from
   * disk may have held code a moment ago.
   */
  deviceWrites: (addr: number, len: number) => void = () => undefined;

  /** A checked view of guest memory, for device buffers. */
  slice(addr: number, len: number, what = 'read'): Uint8Array {
    this.check(addr, len, what);
    return this.u8.subarray(addr, addr + len);
  }
}
