/**
 * An error caused by the guest, not by the launcher: a bad address in a
 * descriptor, garbage in a device register, a triple fault. The run loop
 * catches it, prints the reason and ends the guest with a non-zero exit;
 * it never becomes a stack trace, which is reserved for our own bugs.
 */
export class GuestError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'GuestError';
  }
}
