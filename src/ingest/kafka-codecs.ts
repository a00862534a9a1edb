// Compression codecs for kafkajs, which ships only GZIP. A batch compressed by a producer, or
// recompressed by the broker when a topic sets `compression.type`, cannot be read without them.
import { decompress as zstdDecompress } from 'fzstd';
import kafkajs from 'kafkajs';
import { decompress as lz4DecompressFrame } from 'lz4js';
import { hash as xxh32 } from 'lz4js/xxh32.js';
import { compress as snappyCompress, uncompress as snappyUncompress } from 'snappyjs';

const { CompressionCodecs, CompressionTypes } = kafkajs;

/** The codec shape kafkajs expects: `compress` gets its record encoder, `decompress` the batch bytes. */
export type KafkaCodec = {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
};

let registered = false;

/** Registers SNAPPY, LZ4 and ZSTD (decompression only) with kafkajs. Safe to call more than once. */
export function registerKafkaCodecs(): void {
  if (registered) return;
  CompressionCodecs[CompressionTypes.Snappy] = () => snappyCodec;
  CompressionCodecs[CompressionTypes.LZ4] = () => lz4Codec;
  CompressionCodecs[CompressionTypes.ZSTD] = () => zstdCodec;
  registered = true;
}

// ---------------------------------------------------------------------------------------------
// Snappy. Kafka's Java client writes snappy-java's "xerial" stream framing:
//   header:  0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00 | int32 BE version (1) | int32 BE min compatible (1)
//   chunks:  int32 BE compressed length | one raw Snappy block   (repeated; Java uses 32 KiB inputs)
// Other clients (and old kafkajs-snappy) write one raw Snappy block with no framing. Both are read;
// this side writes the xerial framing, which the broker reads with snappy-java's own stream.

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_LENGTH = 16;
const XERIAL_CHUNK = 32 * 1024;

export function snappyEncode(data: Buffer): Buffer {
  const parts: Buffer[] = [XERIAL_MAGIC, int32BE(1), int32BE(1)];
  for (let offset = 0; offset < data.length; offset += XERIAL_CHUNK) {
    const block = snappyCompress(data.subarray(offset, offset + XERIAL_CHUNK));
    parts.push(int32BE(block.length), block);
  }
  return Buffer.concat(parts);
}

export function snappyDecode(data: Buffer): Buffer {
  const isXerial =
    data.length >= XERIAL_HEADER_LENGTH && data.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC);
  if (!isXerial) return snappyUncompress(data);
  const parts: Buffer[] = [];
  let offset = XERIAL_HEADER_LENGTH;
  while (offset < data.length) {
    if (offset + 4 > data.length) throw new Error('truncated xerial snappy chunk header');
    const length = data.readInt32BE(offset);
    offset += 4;
    if (length < 0 || offset + length > data.length) throw new Error('truncated xerial snappy chunk');
    parts.push(snappyUncompress(data.subarray(offset, offset + length)));
    offset += length;
  }
  return Buffer.concat(parts);
}

const snappyCodec: KafkaCodec = {
  compress: async (encoder) => snappyEncode(encoder.buffer),
  decompress: async (buffer) => snappyDecode(buffer),
};

// ---------------------------------------------------------------------------------------------
// LZ4. Since message format v1, Kafka uses the standard LZ4 frame format
// (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md):
//   magic 0x184D2204 (LE) | FLG | BD | HC = (XXH32(FLG BD) >> 8) & 0xff | blocks | end mark 0 (u32)
//   block: u32 LE size (high bit set = stored uncompressed) | data
// Kafka's Java reader (KafkaLZ4BlockInputStream) rejects frames whose FLG does not declare
// independent blocks, and decodes each block into a buffer of the declared maximum size.
// lz4js reads any such frame, but its writer declares dependent blocks and may start a match
// within the last 12 bytes of a block, against the block format's end rules; so the writer is here.

const LZ4_MAGIC = 0x184d2204;
const LZ4_FLG = 0x60; // version 01, independent blocks, no checksums, no content size
const LZ4_BD = 0x40; // maximum block size 64 KiB, as Kafka's Java producer writes
const LZ4_BLOCK_SIZE = 64 * 1024;
const LZ4_STORED = 0x80000000;
const MIN_MATCH = 4;
const LAST_LITERALS = 5; // a block's last 5 bytes are always literals
const MF_LIMIT = 12; // a block's last match starts at least 12 bytes before its end
const HASH_BITS = 16;
const MAX_OFFSET = 65_535;

export function lz4Encode(data: Buffer): Buffer {
  const descriptor = Buffer.from([LZ4_FLG, LZ4_BD]);
  const header = Buffer.alloc(7);
  header.writeUInt32LE(LZ4_MAGIC, 0);
  descriptor.copy(header, 4);
  header[6] = (xxh32(0, descriptor, 0, descriptor.length) >>> 8) & 0xff;

  const parts: Buffer[] = [header];
  const table = new Int32Array(1 << HASH_BITS);
  const scratch = Buffer.alloc(LZ4_BLOCK_SIZE + LZ4_BLOCK_SIZE / 255 + 16);
  for (let offset = 0; offset < data.length; offset += LZ4_BLOCK_SIZE) {
    const block = data.subarray(offset, offset + LZ4_BLOCK_SIZE);
    const length = lz4CompressBlock(block, scratch, table);
    const size = Buffer.alloc(4);
    if (length > 0 && length < block.length) {
      size.writeUInt32LE(length, 0);
      parts.push(size, Buffer.from(scratch.subarray(0, length)));
    } else {
      size.writeUInt32LE((block.length | LZ4_STORED) >>> 0, 0);
      parts.push(size, block);
    }
  }
  parts.push(Buffer.alloc(4)); // end mark
  return Buffer.concat(parts);
}

export function lz4Decode(data: Buffer): Buffer {
  if (data.length < 7 || data.readUInt32LE(0) !== LZ4_MAGIC) throw new Error('not an LZ4 frame');
  return toBuffer(lz4DecompressFrame(data));
}

/**
 * Greedy LZ4 block compression with a single-entry hash table; the block stands alone (no
 * references outside it). Returns the compressed length written to `out`.
 */
function lz4CompressBlock(src: Uint8Array, out: Uint8Array, table: Int32Array): number {
  table.fill(-1);
  const matchStartLimit = src.length - MF_LIMIT;
  const matchEndLimit = src.length - LAST_LITERALS;
  let anchor = 0;
  let position = 0;
  let written = 0;
  let misses = 0;
  while (position < matchStartLimit) {
    const sequence = readUInt32(src, position);
    const slot = Math.imul(sequence, 2654435761) >>> (32 - HASH_BITS);
    const candidate = table[slot]!;
    table[slot] = position;
    if (candidate < 0 || position - candidate > MAX_OFFSET || readUInt32(src, candidate) !== sequence) {
      // Skip faster through data that does not compress, as the reference implementation does.
      position += 1 + (misses++ >> 6);
      continue;
    }
    misses = 0;
    let end = position + MIN_MATCH;
    let reference = candidate + MIN_MATCH;
    while (end < matchEndLimit && src[end] === src[reference]) {
      end++;
      reference++;
    }
    written = writeLz4Sequence(out, written, src, anchor, position, position - candidate, end - position);
    position = end;
    anchor = end;
  }
  return writeLz4Sequence(out, written, src, anchor, src.length, 0, 0);
}

/** Writes literals `src[anchor, literalEnd)` and, when `matchLength > 0`, the match after them. */
function writeLz4Sequence(
  out: Uint8Array,
  at: number,
  src: Uint8Array,
  anchor: number,
  literalEnd: number,
  offset: number,
  matchLength: number,
): number {
  const literals = literalEnd - anchor;
  const extraMatch = matchLength - MIN_MATCH;
  let position = at;
  out[position++] = (Math.min(literals, 15) << 4) | (matchLength > 0 ? Math.min(extraMatch, 15) : 0);
  position = writeLz4Length(out, position, literals);
  out.set(src.subarray(anchor, literalEnd), position);
  position += literals;
  if (matchLength === 0) return position;
  out[position++] = offset & 0xff;
  out[position++] = offset >>> 8;
  return writeLz4Length(out, position, extraMatch);
}

/** Lengths of 15 or more continue after the token as bytes of 255 and a final byte below 255. */
function writeLz4Length(out: Uint8Array, at: number, length: number): number {
  if (length < 15) return at;
  let position = at;
  let rest = length - 15;
  while (rest >= 255) {
    out[position++] = 255;
    rest -= 255;
  }
  out[position++] = rest;
  return position;
}

function readUInt32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

const lz4Codec: KafkaCodec = {
  compress: async (encoder) => lz4Encode(encoder.buffer),
  decompress: async (buffer) => lz4Decode(buffer),
};

// ---------------------------------------------------------------------------------------------
// ZSTD: standard Zstandard frames (Kafka's Java client writes them with zstd-jni, often without
// the content size). Read only: Tocsin never produces ZSTD.

const zstdCodec: KafkaCodec = {
  compress: async () => {
    throw new Error('ZSTD compression is not supported: Tocsin reads ZSTD batches but never writes them');
  },
  decompress: async (buffer) => toBuffer(zstdDecompress(buffer)),
};

function int32BE(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value, 0);
  return buffer;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
