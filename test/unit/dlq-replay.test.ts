import { createCommandRegistry } from '../../src/commands/registry';
import { matchesFilter, parseDeadLetterRef, type DeadLetter } from '../../src/dispatcher/dead-letters';
import { DLQ_HEADERS } from '../../src/dispatcher/dead-letter';
import { createCommandDecoder } from '../../src/dispatcher/decode';
import { REPLAY_HEADERS, replayDeadLetters, replayRecordOf } from '../../src/dispatcher/replay';
import type { KafkaIo } from '../../src/kafka';
import { UserError } from '../../src/runtime/errors';

const DLQ = 'kto.commands.dead-letter';

function deadLetter(overrides: Partial<DeadLetter> & { body?: unknown } = {}): DeadLetter {
  const body = overrides.body ?? { command: 'app.send_email_alert', params: { email: 'ops@example.com' } };
  const value = Buffer.from(JSON.stringify(body));
  return {
    ref: '0:7',
    partition: 0,
    offset: 7n,
    timestampMs: Date.parse('2026-12-04T10:00:00Z'),
    reason: 'unknown-command',
    error: 'not registered',
    source: { topic: 'kto.commands', partition: 2, offset: '41' },
    command: 'app.send_email_alert',
    truncated: false,
    key: Buffer.from('k1'),
    value,
    headers: { [DLQ_HEADERS.reason]: 'unknown-command', [DLQ_HEADERS.error]: 'not registered', [DLQ_HEADERS.topic]: 'kto.commands', [DLQ_HEADERS.partition]: '2', [DLQ_HEADERS.offset]: '41', trace: 't-1' },
    decoded: { format: 'json', value: body },
    ...overrides,
  };
}

describe('replayRecordOf', () => {
  test('a command without an idempotency key gets the dead letter\'s own coordinates as its key, and origin headers', () => {
    const record = replayRecordOf(DLQ, deadLetter());
    expect(record.headers).toEqual({
      trace: 't-1',
      'kto-idempotency-key': `${DLQ}-0-7`,
      [REPLAY_HEADERS.deadLetterTopic]: DLQ,
      [REPLAY_HEADERS.deadLetterPartition]: '0',
      [REPLAY_HEADERS.deadLetterOffset]: '7',
      [REPLAY_HEADERS.sourceTopic]: 'kto.commands',
      [REPLAY_HEADERS.sourcePartition]: '2',
      [REPLAY_HEADERS.sourceOffset]: '41',
    });
    expect(record.key?.toString()).toBe('k1');
    expect(record.value?.toString()).toContain('ops@example.com');
  });

  test('an idempotency key of the original (header or body field) is kept', () => {
    const dl = deadLetter();
    expect(replayRecordOf(DLQ, { ...dl, headers: { ...dl.headers, 'kto-idempotency-key': 'mine' } }).headers['kto-idempotency-key']).toBe('mine');
    const body = { command: 'app.send_email_alert', params: {}, idempotencyKey: 'in-body' };
    expect(replayRecordOf(DLQ, deadLetter({ body, decoded: { format: 'json', value: body } })).headers['kto-idempotency-key']).toBeUndefined();
  });

  test('a dead-lettered replay keeps the first source and its key when replayed again', () => {
    const first = replayRecordOf(DLQ, deadLetter());
    const again = deadLetter({
      ref: '0:9',
      offset: 9n,
      headers: { ...first.headers, [DLQ_HEADERS.reason]: 'unknown-command', [DLQ_HEADERS.topic]: 'kto.commands', [DLQ_HEADERS.partition]: '0', [DLQ_HEADERS.offset]: '99' },
    });
    const second = replayRecordOf(DLQ, again);
    expect(second.headers['kto-idempotency-key']).toBe(`${DLQ}-0-7`);
    expect(second.headers[REPLAY_HEADERS.deadLetterOffset]).toBe('9');
    expect([second.headers[REPLAY_HEADERS.sourcePartition], second.headers[REPLAY_HEADERS.sourceOffset]]).toEqual(['2', '41']);
  });
});

describe('replayDeadLetters', () => {
  const registry = createCommandRegistry({ taskQueue: 'q' });
  const decoder = createCommandDecoder({});

  function fakeKafka() {
    const sent: unknown[] = [];
    const kafka = { admin: { ensureTopics: async () => undefined }, produce: async (records: unknown[]) => void sent.push(...records) } as unknown as KafkaIo;
    return { kafka, sent };
  }

  test('writes what passes, skips what would be dead-lettered again and truncated copies; a dry run writes nothing', async () => {
    const invalid = { command: 'app.send_email_alert', params: { email: 'nope' } };
    const deadLetters = [
      deadLetter(),
      deadLetter({ ref: '0:8', offset: 8n, body: invalid, decoded: { format: 'json', value: invalid } }),
      deadLetter({ ref: '0:9', offset: 9n, truncated: true }),
    ];
    const dry = fakeKafka();
    const planned = await replayDeadLetters({ kafka: dry.kafka, deadLetterTopic: DLQ, topic: 'kto.commands', deadLetters, decoder, registry, dryRun: true });
    expect(planned.map((o) => [o.ref, o.verdict, o.workflowId])).toEqual([
      ['0:7', 'would-replay', `app.send_email_alert:${DLQ}-0-7`],
      ['0:8', 'rejected', undefined],
      ['0:9', 'truncated', undefined],
    ]);
    expect(planned[1].detail).toMatch(/^invalid-params: /);
    expect(dry.sent).toEqual([]);

    const wet = fakeKafka();
    const done = await replayDeadLetters({ kafka: wet.kafka, deadLetterTopic: DLQ, topic: 'kto.commands', deadLetters, decoder, registry });
    expect(done.map((o) => o.verdict)).toEqual(['replayed', 'rejected', 'truncated']);
    expect(wet.sent).toEqual([expect.objectContaining({ topic: 'kto.commands', headers: expect.objectContaining({ 'kto-idempotency-key': `${DLQ}-0-7` }) })]);
  });
});

describe('dead-letter filters and refs', () => {
  const dl = deadLetter();
  test.each([
    [{}, true],
    [{ reason: 'unknown-command' }, true],
    [{ reason: 'invalid-params' }, false],
    [{ command: 'app.send_email_alert' }, true],
    [{ command: 'other' }, false],
    [{ sinceMs: dl.timestampMs }, true],
    [{ sinceMs: dl.timestampMs + 1 }, false],
    [{ untilMs: dl.timestampMs + 1 }, true],
    [{ untilMs: dl.timestampMs }, false],
    [{ sourcePartition: 2 }, true],
    [{ sourcePartition: 0 }, false],
    [{ refs: [{ partition: 0, offset: 7n }] }, true],
    [{ refs: [{ partition: 0, offset: 8n }] }, false],
  ])('%p → %p', (filter, expected) => {
    expect(matchesFilter(dl, filter)).toBe(expected);
  });

  test('refs are <partition>:<offset>', () => {
    expect(parseDeadLetterRef(' 3:120 ')).toEqual({ partition: 3, offset: 120n });
    expect(() => parseDeadLetterRef('3-120')).toThrow(UserError);
  });
});
