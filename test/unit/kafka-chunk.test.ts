import { createRequire } from 'node:module';
import { chunkRecords, encodedSize } from '../../src/kafka/chunk';
import type { OutboundRecord } from '../../src/kafka';

/** kafkajs's own encoder of one record in Kafka's v2 format: what the broker counts against max.message.bytes. */
const encodeRecord = createRequire(__filename)('kafkajs/src/protocol/recordBatch/record/v0') as (r: {
  offsetDelta?: number;
  timestampDelta?: number;
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, string>;
}) => { buffer: Buffer };

/** A dead letter as the produce step writes it: a short value under seven headers. */
function deadLetter(offset: number): OutboundRecord {
  return {
    topic: 'in.errors',
    partition: 0,
    key: null,
    value: '{"datetime": "broken',
    headers: {
      'kto-pipeline': 'voltage-daily-with-a-longer-name',
      'kto-source-topic': 'meter-readings.voltage.eu-west-1',
      'kto-source-partition': '0',
      'kto-offset-from': '0',
      'kto-offset-to': '5999',
      'kto-error-reason': 'invalid JSON: Unterminated string in JSON at position 20 (line 1 column 21)',
      'kto-source-offset': String(offset),
    },
  };
}

describe('produce request chunks', () => {
  it('count headers: the estimate is never below what kafkajs encodes', () => {
    for (const record of [deadLetter(1), { ...deadLetter(123_456), value: 'x'.repeat(10_000) }, { topic: 't', partition: 0, key: 'k', value: 'v' }]) {
      const actual = encodeRecord({ offsetDelta: 4_999, timestampDelta: 1_000_000, key: record.key, value: record.value, headers: record.headers as Record<string, string> }).buffer.length;
      expect(encodedSize(record)).toBeGreaterThanOrEqual(actual);
      expect(encodedSize(record)).toBeLessThan(actual + 128);
    }
  });

  it('keep 6,000 dead letters under the broker\'s 1 MiB batch limit once encoded', async () => {
    const chunks: OutboundRecord[][] = [];
    for await (const chunk of chunkRecords(Array.from({ length: 6_000 }, (_, i) => deadLetter(i)))) chunks.push(chunk);
    expect(chunks.flat()).toHaveLength(6_000);
    for (const chunk of chunks) {
      const bytes = chunk.reduce((n, r, i) => n + encodeRecord({ offsetDelta: i, timestampDelta: 0, key: r.key, value: r.value, headers: r.headers as Record<string, string> }).buffer.length, 0);
      expect(bytes).toBeLessThan(1024 * 1024 - 1024);
    }
  });
});
