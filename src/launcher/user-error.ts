/**
 * A mistake by the user (a bad argument, a missing or malformed file), as
 * opposed to a bug in the launcher or a misbehaving guest. The launcher prints
 * it as one line, "lguest: <message>", and exits with status 1: no stack
 * trace, because there is nothing in our code for the user to look at.
 */
export class UserError extends Error {
  constructor(m: string) {
    super(m);
    this.name = 'UserError';
  }
}
