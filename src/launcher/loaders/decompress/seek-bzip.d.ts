// seek-bzip ships no types; this is the one call the loaders use.
declare module 'seek-bzip' {
  const Bunzip: { decode(input: Uint8Array): Buffer };
  export = Bunzip;
}
