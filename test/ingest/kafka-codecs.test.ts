import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';
import { compress as rawSnappyCompress } from 'snappyjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  lz4Decode,
  lz4Encode,
  registerKafkaCodecs,
  snappyDecode,
  snappyEncode,
} from '../../src/ingest/kafka-codecs.ts';
import { consumeAll, createTopic, kafkaBrokers, produce } from '../support/kafka.ts';

const { CompressionCodecs, CompressionTypes } = kafkajs;
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** A few events, one of them large enough to span several LZ4 blocks (64 KiB) and Snappy chunks (32 KiB). */
function sampleValues(label: string): string[] {
  const small = [1, 2, 3].map((n) =>
    JSON.stringify({
      id: `${label}-${n}`,
      title: `Rare earth export controls, part ${n}`,
      tags: ['trade', label],
    }),
  );
  const paragraphs = Array.from(
    { length: 1500 },
    (_, i) => `Paragraph ${i}: shipments of gallium fell ${i % 37}%.`,
  );
  const large = JSON.stringify({ id: `${label}-large`, title: 'Annual report', body: paragraphs.join('\n') });
  return [...small, large];
}

/**
 * Consumes `topic` in a fresh Node process where no codec is registered, and reports what happened:
 * proof that the batches on the topic really are compressed.
 */
async function consumeWithoutCodecs(topic: string): Promise<string> {
  const script = `
    import kafkajs from 'kafkajs';
    const [brokers, topic] = process.argv.slice(1);
    const kafka = new kafkajs.Kafka({ brokers: brokers.split(','), logLevel: kafkajs.logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: 'no-codecs-' + Date.now() });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const outcome = await new Promise((resolve) => {
      consumer.on(consumer.events.CRASH, (event) => {
        if (!event.payload.restart) resolve('crashed: ' + event.payload.error.message);
      });
      consumer.run({ eachMessage: async () => resolve('read a message') }).catch((e) => resolve('failed: ' + e.message));
      setTimeout(() => resolve('timed out'), 30000);
    });
    console.log(outcome);
    process.exit(0);
  `;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--input-type=module', '-e', script, kafkaBrokers(), topic],
    { cwd: repoRoot, timeout: 45_000 },
  );
  return stdout.trim();
}

describe('Kafka compression codecs', () => {
  beforeAll(() => {
    registerKafkaCodecs();
    registerKafkaCodecs(); // idempotent
  });

  describe('batches compressed by the broker (Java)', () => {
    // compression.type on the topic makes the broker recompress whatever it is sent, so the consumer
    // receives batches written by Kafka's own Java codecs.
    it.each([
      ['snappy', /Snappy compression not implemented/],
      ['lz4', /LZ4 compression not implemented/],
      ['zstd', /ZSTD compression not implemented/],
    ])(
      'reads a topic with compression.type=%s, which a client without the codec cannot',
      async (codec, missing) => {
        const topic = await createTopic(undefined, { config: { 'compression.type': codec } });
        const values = sampleValues(codec);
        await produce(
          topic,
          values.map((value, i) => ({ key: `key-${i}`, value, headers: { codec } })),
        );

        const [received, withoutCodecs] = await Promise.all([
          consumeAll(topic, values.length, 30_000),
          consumeWithoutCodecs(topic),
        ]);

        expect(received.map((message) => message.value)).toEqual(values);
        expect(received.map((message) => message.key)).toEqual(values.map((_, i) => `key-${i}`));
        expect(received[0]!.headers).toEqual({ codec });
        expect(withoutCodecs).toMatch(missing);
      },
    );
  });

  describe('batches compressed by kafkajs', () => {
    // On a topic with another compression.type the broker must decode our batch with its Java codec
    // to recompress it; on compression.type=producer it stores our batch as sent.
    it.each([
      ['snappy', CompressionTypes.Snappy, 'producer'],
      ['snappy', CompressionTypes.Snappy, 'lz4'],
      ['lz4', CompressionTypes.LZ4, 'producer'],
      ['lz4', CompressionTypes.LZ4, 'snappy'],
    ])(
      'produces %s batches to a topic with compression.type=%s and reads them back',
      async (codec, type, topicCodec) => {
        const topic = await createTopic(undefined, { config: { 'compression.type': topicCodec } });
        const values = sampleValues(`${codec}-to-${topicCodec}`);
        await produce(topic, values, { compression: type });

        const received = await consumeAll(topic, values.length, 30_000);
        expect(received.map((message) => message.value)).toEqual(values);
      },
    );

    it('refuses to produce ZSTD with a clear error', async () => {
      const codec = CompressionCodecs[CompressionTypes.ZSTD]();
      await expect(codec.compress({ buffer: Buffer.from('x') })).rejects.toThrow(
        /ZSTD compression is not supported/,
      );
    });
  });

  describe('framing', () => {
    it('reads raw Snappy blocks as well as xerial-framed ones', () => {
      const data = Buffer.from('{"id":"raw"}'.repeat(100));
      expect(snappyDecode(rawSnappyCompress(data))).toEqual(data);
      expect(snappyEncode(data).subarray(0, 8)).toEqual(Buffer.from('\x82SNAPPY\x00', 'latin1'));
      expect(snappyDecode(snappyEncode(data))).toEqual(data);
    });

    it.each([0, 1, 12, 13, 100, 65_536, 65_537, 300_000])('LZ4 frames round-trip %i bytes', (size) => {
      const data = Buffer.alloc(size);
      for (let i = 0; i < size; i++) data[i] = (i * 7919) % 251 < 40 ? 97 : i % 13;
      const frame = lz4Encode(data);
      // FLG: version 01, independent blocks, as Kafka's Java reader requires.
      expect(frame[4]).toBe(0x60);
      // Buffer#equals: toEqual compares large buffers byte by byte, slowly.
      expect(lz4Decode(frame).equals(data)).toBe(true);
    });
  });
});
