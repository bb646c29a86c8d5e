/**
 * The shared network file, byte by byte. Every launcher on one Ethernet maps
 * this file MAP_SHARED, so this layout is a protocol between processes, maybe
 * of different lguest builds: it carries a magic and a version, and a file
 * whose header does not match exactly is refused rather than guessed at.
 *
 * All integers are little-endian (x86 hosts only, as the launcher itself).
 *
 *   offset 0        header page (4096 bytes)
 *     0   magic      8 bytes "LGSHNET\0"
 *     8   u32        version (1)
 *     12  u32        number of slots (16)
 *     16  u32        cells per receive ring (256)
 *     20  u32        bytes per cell (2048)
 *     1024           slot table: 16 entries of 64 bytes
 *       0   u32  flags: LIVE (a launcher owns the slot), PROMISC (wants every frame)
 *       4   u32  generation: bumped by every launcher that takes the slot
 *       8   u8[6] the guest's MAC address
 *       16  u32  head: the next ring position its owner will read
 *       20  u32  tail: a hint, the next ring position a sender will try
 *       24  u32  armed: 1 while the owner wants a wake-up on its FIFO
 *       28  u32  the owner's pid (for people reading the file, never trusted)
 *   offset 4096     receive rings, one per slot, 256 cells of 2048 bytes each
 *     cell  0  u32  state word (below)
 *           4  u32  frame length
 *           8  ...  the frame, at most 2040 bytes
 *
 * Sizes. 16 slots: a frame is delivered by copying, and a broadcast is one copy
 * per live slot, so a larger Ethernet costs every sender more; 16 guests on
 * one host is far more than the tests and demos need, and the file stays at
 * 8 MiB (sparse until used). 256 cells: as many as the virtio-net receive
 * queue, so a receiver that is busy for a moment can absorb a full queue's
 * worth of frames before anything is dropped. 2048-byte cells: a 1500-byte MTU
 * frame with Ethernet and VLAN headers (1518) fits with room to spare; larger
 * frames are dropped, so guests on a shared network must keep the default MTU.
 *
 * The fcntl lock bytes are file offsets 0..15, one per slot (the lock is
 * advisory and unrelated to the bytes' contents, which are the magic).
 *
 * State word: a ring position `pos` counts up for ever (mod 2^32); it lives in
 * cell pos % 256, on lap pos / 256. The state word of a cell is
 *
 *   bits 31..8  lap (24 bits, mod 2^24)
 *   bits  7..6  phase: FREE, RESERVED, COMMITTED, SPENT
 *   bits  5..0  the slot of the sender that reserved it
 *
 * A zero file is therefore a valid empty network: every cell FREE on lap 0.
 */

const MAGIC = 'LGSHNET\0';
const VERSION = 1;
export const SLOTS = 16;
export const CELLS = 256;
const CELL_SIZE = 2048;

export const HEADER_SIZE = 4096;
const MAGIC_OFFSET = 0;
const VERSION_OFFSET = 8;
const SLOTS_OFFSET = 12;
const CELLS_OFFSET = 16;
const CELL_SIZE_OFFSET = 20;

const SLOT_TABLE = 1024;
const SLOT_ENTRY = 64;
/** Offsets of the slot fields, in bytes from the start of the file. */
export const slotFlags = (slot: number): number => SLOT_TABLE + slot * SLOT_ENTRY;
export const slotGeneration = (slot: number): number => slotFlags(slot) + 4;
export const slotMac = (slot: number): number => slotFlags(slot) + 8;
export const slotHead = (slot: number): number => slotFlags(slot) + 16;
export const slotTail = (slot: number): number => slotFlags(slot) + 20;
export const slotArmed = (slot: number): number => slotFlags(slot) + 24;
export const slotPid = (slot: number): number => slotFlags(slot) + 28;

export const FLAG_LIVE = 1;
export const FLAG_PROMISC = 2;

const RING_SIZE = CELLS * CELL_SIZE;
export const FILE_SIZE = HEADER_SIZE + SLOTS * RING_SIZE;

/** Byte offset of a cell; its length is at +4 and the frame at +8. */
export const cellOffset = (slot: number, index: number): number => HEADER_SIZE + slot * RING_SIZE + index * CELL_SIZE;
export const CELL_LENGTH = 4;
export const CELL_DATA = 8;
export const MAX_FRAME = CELL_SIZE - CELL_DATA;

/** The fcntl lock byte that marks a slot taken. */
export const slotLockByte = (slot: number): number => slot;

export const enum Phase {
  /** Waiting for the sender of its lap. */
  Free = 0,
  /** A sender (the owner bits) is copying a frame in. */
  Reserved = 1,
  /** Holds a whole frame for the receiver. */
  Committed = 2,
  /**
   * Nothing to deliver: its frame was taken out of order, or its sender died
   * before committing it. The receiver steps over it.
   */
  Spent = 3,
}

const LAP_BITS = 24;
const LAP_MASK = (1 << LAP_BITS) - 1;
const CELL_BITS = 8;
if (1 << CELL_BITS !== CELLS) throw new Error('CELLS must be 1 << CELL_BITS');
// The owner field holds 0..63, and a receiver keeps a 32-bit mask of senders (ring.ts).
if (SLOTS > 32) throw new Error('at most 32 slots');

/** Position -> cell index and lap. */
export const cellIndex = (pos: number): number => pos & (CELLS - 1);
export const lapOf = (pos: number): number => (pos >>> CELL_BITS) & LAP_MASK;
/** The lap before `lap`, modulo 2^24. */
export const previousLap = (lap: number): number => (lap - 1) & LAP_MASK;

/** A state word as the signed 32-bit value an Int32Array holds. */
export const stateWord = (lap: number, phase: Phase, owner: number): number => (lap << 8) | (phase << 6) | owner;
export const stateLap = (word: number): number => word >>> 8;
export const statePhase = (word: number): Phase => (word >>> 6) & 3;
export const stateOwner = (word: number): number => word & 63;

/** The header a new file starts with; the rest of the file is zeros. */
export function newHeader(): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  h.write(MAGIC, MAGIC_OFFSET, 'latin1');
  h.writeUInt32LE(VERSION, VERSION_OFFSET);
  h.writeUInt32LE(SLOTS, SLOTS_OFFSET);
  h.writeUInt32LE(CELLS, CELLS_OFFSET);
  h.writeUInt32LE(CELL_SIZE, CELL_SIZE_OFFSET);
  return h;
}

/**
 * Why a file cannot be used as this build's network file, or null if it can.
 * `head` is the file's header page (zeros past its end), `size` its length.
 */
export function headerProblem(head: Uint8Array, size: number): string | null {
  const h = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (size === 0) return 'is empty, not a shared network file (remove it and lguest will create a new one)';
  if (h.toString('latin1', MAGIC_OFFSET, MAGIC_OFFSET + 8) !== MAGIC) return 'is not a shared network file (bad magic)';
  if (size < HEADER_SIZE) return `is ${size} bytes, not ${FILE_SIZE}: truncated or corrupt`;
  const version = h.readUInt32LE(VERSION_OFFSET);
  if (version !== VERSION) return `is a version ${version} shared network file; this lguest understands version ${VERSION}`;
  const geometry = [h.readUInt32LE(SLOTS_OFFSET), h.readUInt32LE(CELLS_OFFSET), h.readUInt32LE(CELL_SIZE_OFFSET)];
  if (geometry.join() !== [SLOTS, CELLS, CELL_SIZE].join()) {
    return `has ${geometry[0]} slots of ${geometry[1]} cells of ${geometry[2]} bytes; this lguest uses ${SLOTS} of ${CELLS} of ${CELL_SIZE}`;
  }
  if (size !== FILE_SIZE) return `is ${size} bytes, not ${FILE_SIZE}: truncated or corrupt`;
  return null;
}
