import { GuestError } from './guest-error';

/**
 * Guest "physical" memory: RAM from guest physical 0 to `size`.
 *
 * In the launcher the buffer is launcher virtual memory mapped by the native
 * addon (guest physical P is launcher virtual base + P); in unit tests it can
 * be a plain ArrayBuffer. Either way the CPU and the devices see one buffer
 * and never copy it.
 */
export class GuestMemory {
  readonly u8: Uint8Array;
  readonly view: DataView;
  readonly size: number;

  constructor(readonly buffer: ArrayBuffer) {
    this.u8 = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.size = buffer.byteLength;
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
