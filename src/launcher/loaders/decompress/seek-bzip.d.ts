// seek-bzip ships no types; these are the calls the loaders use.
declare module 'seek-bzip' {
  const Bunzip: {
    decode(input: Uint8Array): Buffer;
    /** With an output stream of our own, bytes go to it and nothing is returned. */
    decode(input: Uint8Array, output: { writeByte(b: number): void }): void;
  };
  export = Bunzip;
}
