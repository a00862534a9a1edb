// lz4js ships no types. Only what Tocsin uses.
declare module 'lz4js' {
  /** Decodes a whole LZ4 frame (magic 0x184D2204). */
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array;
}

declare module 'lz4js/xxh32.js' {
  /** XXH32 of `src[index, index + length)`. */
  export function hash(seed: number, src: Uint8Array, index: number, length: number): number;
}
