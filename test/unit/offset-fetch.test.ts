import { decodeOffsetFetch, encodeOffsetFetch } from '../../src/kafka/offset-fetch';

// OffsetFetch v7 as the Kafka protocol spells it (flexible version: compact strings and arrays
// carry length + 1 as an unsigned varint, each structure ends with its tagged fields).

test('the request names the group, one topic, its partitions and require_stable', () => {
  const body = encodeOffsetFetch('g', 'tp', [0, 2], true);
  expect([...body]).toEqual([
    0, // request header tagged fields
    2, 0x67, // "g"
    2, // one topic
    3, 0x74, 0x70, // "tp"
    3, 0, 0, 0, 0, 0, 0, 0, 2, // partitions 0 and 2
    0, // topic tagged fields
    1, // require_stable
    0, // request tagged fields
  ]);
  expect(encodeOffsetFetch('g', 'tp', [], false).at(-2)).toBe(0);
});

test('the answer gives each partition its offset (-1: none), metadata and error code', () => {
  const partition = (index: number, offset: bigint, metadata: string | null, errorCode: number) => {
    const b = Buffer.alloc(4 + 8 + 4);
    b.writeInt32BE(index, 0);
    b.writeBigInt64BE(offset, 4);
    b.writeInt32BE(-1, 12); // leader epoch
    const meta = metadata === null ? Buffer.from([0]) : Buffer.concat([Buffer.from([metadata.length + 1]), Buffer.from(metadata)]);
    const code = Buffer.alloc(2);
    code.writeInt16BE(errorCode);
    return Buffer.concat([b, meta, code, Buffer.from([0])]);
  };
  const answer = Buffer.concat([
    Buffer.from([1, 7, 1, 0x61]), // response header: one tagged field (tag 7, one byte)
    Buffer.from([0, 0, 0, 0]), // throttle
    Buffer.from([2, 3, 0x74, 0x70, 3]), // one topic "tp", two partitions
    partition(0, 42n, 'm', 0),
    partition(2, -1n, null, 88),
    Buffer.from([0]), // topic tagged fields
    Buffer.from([0, 0]), // error code
    Buffer.from([0]),
  ]);
  expect(decodeOffsetFetch(answer)).toEqual({
    errorCode: 0,
    partitions: [
      { partition: 0, offset: 42n, metadata: 'm', errorCode: 0 },
      { partition: 2, offset: -1n, metadata: null, errorCode: 88 },
    ],
  });
});
