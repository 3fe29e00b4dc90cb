import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createStagingWriter, readStaging, readStagingChunks, stagingPath, type StagedRecord } from '../../src/steps/staging';

const dir = mkdtempSync(path.join(os.tmpdir(), 'kto-staging-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function readAll(file: string): Promise<StagedRecord[]> {
  const out: StagedRecord[] = [];
  for await (const chunk of readStaging(file)) for (const r of chunk) out.push({ ...r, value: r.value && Buffer.from(r.value) });
  return out;
}

test('records round-trip with null values, notes and 64-bit offsets, across reads larger than one chunk', async () => {
  const file = stagingPath(dir, 'pipe/line', 3, '0', 'records');
  expect(path.basename(file)).toBe('pipe_line.3.0.records');
  const big = Buffer.alloc(3 * 1024 * 1024, 7); // larger than the 1 MiB read chunk
  const records: StagedRecord[] = [
    { offset: 0n, value: Buffer.from('{"a":1}'), note: null },
    { offset: 1n, value: null, note: 'missing-field: datetime' },
    { offset: 2n ** 62n, value: big, note: 'ünïcode note' },
    { offset: 5n, value: Buffer.alloc(0), note: '' },
  ];
  const writer = await createStagingWriter(file);
  await writer.write(records.slice(0, 2));
  await writer.write(records.slice(2));
  await writer.close();
  expect(writer.count).toBe(4);
  expect(await readAll(file)).toEqual(records);
});

test('decimal offsets as Kafka delivers them are written as the same 64-bit offsets', async () => {
  const file = path.join(dir, 'decimal');
  const writer = await createStagingWriter(file);
  await writer.write([
    { offset: '0', value: Buffer.from('a') },
    { offset: '4294967297', value: Buffer.from('b') },
    { offset: '999999999999999', value: null },
    { offset: (2n ** 62n).toString(), value: Buffer.from('c'), note: 'late' },
  ]);
  await writer.close();
  expect((await readAll(file)).map((r) => [r.offset, r.value?.toString() ?? null, r.note])).toEqual([
    [0n, 'a', null],
    [4294967297n, 'b', null],
    [999999999999999n, null, null],
    [2n ** 62n, 'c', 'late'],
  ]);
});

test('chunks read values in place, with offsets below 2^53 as numbers and larger ones as bigints', async () => {
  const file = path.join(dir, 'chunks');
  const writer = await createStagingWriter(file);
  await writer.write([
    { offset: 3, value: Buffer.from('{"v":"ünï"}'), note: null },
    { offset: 2 ** 53 - 1, value: null, note: 'tombstone' },
    { offset: 2n ** 53n, value: Buffer.alloc(0) },
    { offset: 2n ** 63n - 1n, value: Buffer.from('last'), note: 'x' },
  ]);
  await writer.close();
  const seen: unknown[] = [];
  for await (const chunk of readStagingChunks(file)) {
    for (let i = 0; i < chunk.length; i++) seen.push([chunk.offset(i), chunk.text(i), chunk.value(i)?.toString('utf8') ?? null, chunk.note(i)]);
  }
  expect(seen).toEqual([
    [3, '{"v":"ünï"}', '{"v":"ünï"}', null],
    [2 ** 53 - 1, null, null, 'tombstone'],
    [2n ** 53n, '', '', null],
    [2n ** 63n - 1n, 'last', 'last', 'x'],
  ]);
});

test('a file cut inside a record is an error, not a silent short read', async () => {
  const file = path.join(dir, 'cut');
  const writer = await createStagingWriter(file);
  await writer.write([{ offset: 9n, value: Buffer.from('0123456789'), note: null }]);
  await writer.close();
  writeFileSync(file, readFileSync(file).subarray(0, 20));
  await expect(readAll(file)).rejects.toThrow(/ends inside a record/);
});
