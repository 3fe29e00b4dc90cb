import { batchEventDecoder, batchEventSchema, batchTopics, COMPLETE_BATCH_COMMAND, completeBatchCommand } from '../../src/complete-batch';
import { createCommandRegistry, isRejection } from '../../src/commands/registry';
import { CommandDecodeError } from '../../src/dispatcher/decode';
import { createBatchAssembler, orderByPosition, parseDataRecord } from '../../src/shared/complete-batch';

const rec = (eventId: string, id: string | number, offset: number, payload: unknown = { v: offset }) => JSON.stringify({ eventId, id, offset, payload });

describe('batch assembler', () => {
  test('keeps only its eventId, drops duplicate ids (first wins) and completes at capacity', () => {
    const a = createBatchAssembler('b1', 3);
    const outcomes = [
      a.offer('b1', rec('b1', 1, 0, 'first'), '10').outcome,
      a.offer('b2', rec('b2', 1, 0), '11').outcome,
      a.offer('b1', rec('b1', 1, 0, 'again'), '12').outcome,
      a.offer('b1', rec('b1', 2, 1), '13').outcome,
    ];
    expect(outcomes).toEqual(['kept', 'foreign', 'duplicate', 'kept']);
    expect(a.complete).toBe(false);
    expect(a.offer('b1', rec('b1', 3, 2), '14').outcome).toBe('kept');
    expect(a.complete).toBe(true);
    expect(a.offer('b1', rec('b1', 4, 3), '15').outcome).toBe('ignored');
    expect({ kept: a.kept, duplicates: a.duplicates, foreign: a.foreign, inOrder: a.inOrder }).toEqual({ kept: 3, duplicates: 1, foreign: 1, inOrder: true });
  });

  test('an unparseable record under the batch key is bad; under another key it is foreign', () => {
    const a = createBatchAssembler('b1', 2);
    expect(a.offer('other', 'not json', '1').outcome).toBe('foreign');
    expect(a.offer('b1', '{"eventId":"b1","id":1}', '2').outcome).toBe('bad');
    expect(a.bad).toEqual([{ kafkaOffset: '2', reason: '"offset" must be a whole number ≥ 0' }]);
  });

  test('numeric and string ids of the same value are one record', () => {
    const a = createBatchAssembler('b1', 2);
    a.offer('b1', rec('b1', 7, 0), '0');
    expect(a.offer('b1', rec('b1', '7', 0), '1').outcome).toBe('duplicate');
  });

  test('out-of-order positions are detected and sorted back, stable for ties', () => {
    const a = createBatchAssembler('b1', 3);
    a.offer('b1', rec('b1', 'x', 2), '0');
    a.offer('b1', rec('b1', 'y', 0), '1');
    expect(a.inOrder).toBe(false);
    expect(orderByPosition([{ offset: 2, n: 'a' }, { offset: 0, n: 'b' }, { offset: 2, n: 'c' }, { offset: 1, n: 'd' }]).map((r) => r.n)).toEqual(['b', 'd', 'a', 'c']);
  });

  test('parseDataRecord explains what is missing', () => {
    expect(parseDataRecord('[]')).toEqual({ ok: false, reason: 'not a JSON object' });
    expect(parseDataRecord('{"eventId":"e","id":1,"offset":0}')).toEqual({ ok: false, reason: '"payload" is missing' });
    expect(parseDataRecord(rec('e', 'a', 1, null))).toEqual({ ok: true, record: { eventId: 'e', id: 'a', offset: 1, payload: null } });
  });
});

describe('complete batch events', () => {
  test('topics follow <prefix>.<name>.<role>', () => {
    expect(batchTopics('com.example', 'sensors.voltage.v1')).toEqual({
      data: 'com.example.sensors.voltage.v1.data',
      event: 'com.example.sensors.voltage.v1.event',
      output: 'com.example.sensors.voltage.v1.output',
      error: 'com.example.sensors.voltage.v1.error',
    });
  });

  test('event schema normalizes the offset to a string and rejects a zero capacity', () => {
    const ok = batchEventSchema.parse({ eventId: 'e', capacity: 2, sourceDescriptor: { topic: 't', partition: 0, offset: 42 } });
    expect(ok).toEqual({ eventId: 'e', capacity: 2, sourceDescriptor: { topic: 't', partition: 0, offset: '42' }, description: '' });
    expect(batchEventSchema.safeParse({ eventId: 'e', capacity: 0, sourceDescriptor: { topic: 't', partition: 0, offset: 0 } }).success).toBe(false);
  });

  test('decoder wraps any JSON in the complete-batch command and refuses non-JSON', async () => {
    const d = batchEventDecoder();
    await expect(d.decode(Buffer.from('{"a":1}'), {})).resolves.toEqual({ command: COMPLETE_BATCH_COMMAND, params: { a: 1 } });
    await expect(d.decode(Buffer.from('nope'), {})).rejects.toBeInstanceOf(CommandDecodeError);
  });

  test('the registry entry derives the workflow id from the event record and passes its coordinates', () => {
    const registry = createCommandRegistry({ taskQueue: 'q', commands: [completeBatchCommand({ outputTopic: 'o', errorTopic: 'e' })] });
    const event = { eventId: 'e1', capacity: 1, sourceDescriptor: { topic: 'd', partition: 0, offset: 5 } };
    const resolved = registry.resolveCommand({ command: COMPLETE_BATCH_COMMAND, params: event }, { topic: 'ev', partition: 2, offset: 9n });
    if (isRejection(resolved)) throw new Error(resolved.detail);
    expect(resolved.workflowId).toBe('kto.complete_batch:ev-2-9');
    expect(resolved.workflowType).toBe('completeBatch');
    expect(resolved.args[0]).toMatchObject({ eventSource: { topic: 'ev', partition: 2, offset: '9' }, outputTopic: 'o', handler: 'aggregate', deadlineMs: 600_000 });
    const bad = registry.resolveCommand({ command: COMPLETE_BATCH_COMMAND, params: { eventId: 'x' } }, { topic: 'ev', partition: 0, offset: 1n });
    expect(isRejection(bad) && bad.reason).toBe('invalid-params');
  });
});
