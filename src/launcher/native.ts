import * as path from 'node:path';
import { UserError } from './user-error';

/**
 * The typed face of the native addon (native/*.cc): only what Node cannot do
 * itself. Every failing system call throws an Error whose message names the
 * call, the object (path, fd, interface) and the errno name, with `.code` set
 * to that name ("EACCES") as Node's own errors do.
 */

/** A reserved region of launcher address space, seen by JS as one buffer. */
export interface Region {
  /** The whole region, without a copy. Detached (length 0) once unmapped. */
  buffer: ArrayBuffer;
  /** The region's launcher virtual address. */
  base: bigint;
}

/** A file mapping that raised SIGBUS (its file shrank under it); see takeBusFault(). */
export interface BusFault {
  /** The mapped file, as "fd N (/path)". */
  what: string;
  /** Pages that faulted since the last look; they now read as zeros. */
  pages: number;
}

export interface PollEntry {
  fd: number;
  events: number;
}

export interface Tap {
  fd: number;
  /** The interface name the kernel gave it (e.g. "tap0" for "tap%d"). */
  name: string;
}

export interface TapOptions {
  /** A name or a pattern such as "tap%d" (the default). */
  name?: string;
  /** IFF_VNET_HDR: every frame carries a virtio-net header. */
  vnetHdr?: boolean;
  /** Header size for TUNSETVNETHDRSZ (e.g. 12 for virtio 1.x); default: the kernel's 10. */
  vnetHdrSize?: number;
  /** TUNSETOFFLOAD flags (an OR of TUN_OFFLOAD values); unset: not called. */
  offload?: number;
}

interface Binding {
  pageSize: number;
  reserve(length: number): Region;
  adopt(buffer: ArrayBuffer, length: number): bigint;
  mapAnonymous(region: ArrayBuffer, offset: number, length: number): void;
  mapFile(region: ArrayBuffer, offset: number, length: number, fd: number, fileOffset: number, shared: boolean): void;
  unmap(region: ArrayBuffer): void;
  takeBusFault(region: ArrayBuffer): BusFault | null;
  busFaultCount: ArrayBuffer;
  fallocate(fd: number, offset: number, length: number): void;
  tryLock(fd: number, offset: number): boolean;
  lockHolder(fd: number, offset: number): number;
  unlock(fd: number, offset: number): void;
  readLease(fd: number): boolean;
  leaseBroken(fd: number): boolean;
  dropLease(fd: number): void;
  openTap(name: string, vnetHdr: boolean, offload: number, vnetHdrSize: number): Tap;
  setIpv4(ifname: string, address: string, netmask: string): void;
  ifUp(ifname: string): void;
  getMac(ifname: string): Buffer;
  addToBridge(bridge: string, ifname: string): void;
  tunOffload: { CSUM: number; TSO4: number; TSO6: number; TSO_ECN: number; UFO: number };
  poll(entries: PollEntry[], timeoutMs: number): number[];
  pipe(): [number, number];
  setNonBlocking(fd: number, on: boolean): void;
  pollEvents: { IN: number; PRI: number; OUT: number; ERR: number; HUP: number; NVAL: number };
  tcgetattr(fd: number): Buffer;
  tcsetattr(fd: number, saved: Buffer): void;
  makeRaw(fd: number): void;
  execv(path: string, argv: string[]): never;
}

/** dist/src/launcher -> the package root, where node-gyp leaves build/. */
const ADDON = path.join(__dirname, '..', '..', '..', 'build', 'Release', 'lguest_native.node');

let binding: Binding | null = null;

/** The addon, loaded on first use so that `lguest --help` works without it. */
function addon(): Binding {
  if (binding) return binding;
  try {
    binding = require(ADDON) as Binding;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_DLOPEN_FAILED') {
      throw new UserError(`the native addon ${ADDON} is not built or does not load: run \`npm run build:native\``);
    }
    throw e;
  }
  return binding;
}

export function pageSize(): number {
  return addon().pageSize;
}

/** Reserve `length` bytes (a page multiple) of PROT_NONE address space. */
export function reserve(length: number): Region {
  return addon().reserve(length);
}

/**
 * The first `length` bytes of a WebAssembly memory's buffer as a region (the
 * memory keeps its address; V8 keeps owning it).
 */
export function adopt(buffer: ArrayBuffer, length: number): Region {
  return { buffer, base: addon().adopt(buffer, length) };
}

/** Zero pages at `offset` in the region (MAP_FIXED, private, anonymous). */
export function mapAnonymous(region: Region, offset: number, length: number): void {
  addon().mapAnonymous(region.buffer, offset, length);
}

/**
 * The file's pages from `fileOffset` (page aligned) at region `offset` (page
 * aligned); `length` is rounded up to whole pages. A map running past the
 * file's last page is refused (touching it would be SIGBUS).
 */
export function mapFile(region: Region, offset: number, length: number, fd: number, fileOffset: number, shared: boolean): void {
  addon().mapFile(region.buffer, offset, length, fd, fileOffset, shared);
}

/** Unmap the whole region; its buffer becomes detached (byteLength 0), or for an adopted one reads as zeros. */
export function unmap(region: Region): void {
  addon().unmap(region.buffer);
}

/**
 * A file mapping of `region` that raised SIGBUS since the last call, or
 * null. The addon's handler has put zero pages where the file's pages were,
 * so the launcher did not die; the caller decides what the loss means.
 */
export function takeBusFault(region: Region): BusFault | null {
  return addon().takeBusFault(region.buffer);
}

let faultCount: Uint32Array | null = null;

/**
 * How many pages of file mappings have faulted so far (SIGBUS turned into
 * zero pages), read without a call into the addon: while it stays the same,
 * takeBusFault() has nothing to say.
 */
export function busFaultCount(): number {
  faultCount ??= new Uint32Array(addon().busFaultCount, 0, 1);
  return faultCount[0];
}

/** posix_fallocate(2): give [offset, offset+length) of the file real blocks (ENOSPC when there is no room). */
export function fallocate(fd: number, offset: number, length: number): void {
  addon().fallocate(fd, offset, length);
}

/** Take a one-byte fcntl write lock at `offset`; false if another process holds it. */
export function tryLock(fd: number, offset: number): boolean {
  return addon().tryLock(fd, offset);
}

/** The pid of another process holding a lock on byte `offset`, or 0. */
export function lockHolder(fd: number, offset: number): number {
  return addon().lockHolder(fd, offset);
}

export function unlock(fd: number, offset: number): void {
  addon().unlock(fd, offset);
}

/**
 * Take a read lease on the file open at `fd` (fcntl F_SETLEASE): a process
 * opening it for writing or truncating it then waits until we dropLease()
 * (at most /proc/sys/fs/lease-break-time), and we get SIGIO. false if the
 * kernel will not give us one (not the owner and no CAP_LEASE, a writer
 * already, no lease support).
 */
export function readLease(fd: number): boolean {
  return addon().readLease(fd);
}

/** True once another process is waiting to write or truncate the leased file. */
export function leaseBroken(fd: number): boolean {
  return addon().leaseBroken(fd);
}

export function dropLease(fd: number): void {
  addon().dropLease(fd);
}

/** Open a tap device (IFF_TAP | IFF_NO_PI); its fd is close-on-exec. */
export function openTap(options: TapOptions = {}): Tap {
  return addon().openTap(options.name ?? 'tap%d', options.vnetHdr ?? false, options.offload ?? -1, options.vnetHdrSize ?? 0);
}

/** TUNSETOFFLOAD flag values (TUN_F_*). */
export function tunOffload(): Binding['tunOffload'] {
  return addon().tunOffload;
}

/** Give an interface an IPv4 address and netmask (dotted quads). */
export function setIpv4(ifname: string, address: string, netmask: string): void {
  addon().setIpv4(ifname, address, netmask);
}

export function ifUp(ifname: string): void {
  addon().ifUp(ifname);
}

/** The interface's MAC address (6 bytes). */
export function getMac(ifname: string): Uint8Array {
  return new Uint8Array(addon().getMac(ifname));
}

/** Attach `ifname` to an existing bridge (SIOCBRADDIF). */
export function addToBridge(bridge: string, ifname: string): void {
  addon().addToBridge(bridge, ifname);
}

/** poll(2) event bits. */
export function pollEvents(): Binding['pollEvents'] {
  return addon().pollEvents;
}

/**
 * poll(2) over `entries`, blocking up to `timeoutMs` (Infinity: for ever).
 * Returns each entry's revents; all zeros on timeout or when a signal
 * interrupted the wait.
 */
export function poll(entries: PollEntry[], timeoutMs: number): number[] {
  const t = timeoutMs === Infinity ? -1 : Math.max(0, Math.min(Math.ceil(timeoutMs), 0x7fffffff));
  return addon().poll(entries, t);
}

/** A pipe, [read end, write end], both close-on-exec. */
export function pipe(): [number, number] {
  return addon().pipe();
}

export function setNonBlocking(fd: number, on: boolean): void {
  addon().setNonBlocking(fd, on);
}

/** The terminal state of `fd`, to hand back to tcsetattr() later. */
export function tcgetattr(fd: number): Buffer {
  return addon().tcgetattr(fd);
}

export function tcsetattr(fd: number, saved: Buffer): void {
  addon().tcsetattr(fd, saved);
}

/** Raw input on a terminal: no echo, no line editing, no signal keys. */
export function makeRaw(fd: number): void {
  addon().makeRaw(fd);
}

/**
 * Replace this process with `argv` run from `path` (same pid, same
 * terminal; close-on-exec descriptors, and so their fcntl locks, are gone).
 * Returns only by throwing.
 */
export function execv(path: string, argv: string[]): never {
  return addon().execv(path, argv);
}
