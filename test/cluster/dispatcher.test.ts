import { jsonCommandRecord } from '../../src/dispatcher/records';
import { dispatcherConfig, sinkMessages, startDispatcher } from '../support/dispatcher-harness';
import { useCluster } from '../support/cluster';
import { waitFor } from '../support/helpers';
import { readTopic } from '../support/kafka-check';
import { useTestEnv } from '../support/test-env';

/**
 * The dispatcher on three brokers: kill -9 of the broker that leads a commands partition and
 * coordinates the dispatcher's consumer group, while commands are written and dispatched. Each
 * command is in the topic once, is started once and sends one email; the broker comes back.
 *
 * Each write spreads its commands over the three partitions (no key, no partition: round
 * robin), so a write is in flight on several brokers when one dies. kafkajs alone dropped the
 * records of a partition whose leadership moved to a broker that had already answered, and
 * placed unkeyed records again on a retry; kto's sends place and check every record.
 */
const env = useTestEnv('cluster-dispatcher-q');
const cluster = useCluster(() => env.config);

/** What of `expected` is missing from `seen`, and what `seen` holds more than once. */
function lostAndDoubled(expected: string[], seen: string[]) {
  return { lost: expected.filter((s) => !seen.includes(s)), doubled: seen.filter((s, i) => seen.indexOf(s) !== i) };
}

const SUBJECT = /burst \S+ #\d+/;
const COMMANDS = 300;
const PER_SEND = 10;
const COMMITTED_WITHIN_MS = 60_000;

test('kill -9 of the leader of a commands partition (and group coordinator) during a burst: every command sends exactly one email', async () => {
  const config = dispatcherConfig(env.config);
  const { topic, groupId, deadLetterTopic } = config.dispatcher;
  const coordinator = await cluster.leaderOf('__consumer_offsets', 0);
  await cluster.createTopics([topic, deadLetterTopic], 3, { firstLeader: coordinator });
  expect(await cluster.leaderOf(topic, 0)).toBe(coordinator);
  const subjects = Array.from({ length: COMMANDS }, (_, i) => `burst ${topic} #${i}`);
  const kill = await cluster.killer(coordinator);
  const d = startDispatcher({ ...env, config });
  try {
    let killed: Promise<void> | undefined;
    let killedAt = 0;
    for (let i = 0; i < COMMANDS; i += PER_SEND) {
      // Half-way through the burst, without waiting: the sends go on while the broker dies.
      if (i === COMMANDS / 2) {
        killedAt = Date.now();
        killed = kill();
      }
      const commands = subjects.slice(i, i + PER_SEND).map((subject) => jsonCommandRecord({ command: 'app.send_email_alert', params: { email: 'ops@example.com', subject } }));
      await env.kafka.produce(commands.map((c) => ({ topic, key: null, value: c.value, headers: c.headers })));
    }
    await killed;

    const mails = async () => (await sinkMessages()).map((m) => m.subject).filter((s) => s.startsWith(`burst ${topic} `));
    // A lost command never sends its email: after the wait, the comparison below names it.
    await waitFor(async () => (await mails()).length >= COMMANDS, { timeoutMs: 60_000 }).catch(() => undefined);
    // Each command once in the topic (the write), and one email for each (the dispatch).
    const written = (await readTopic(env.config.kafka.brokers, topic)).map((r) => SUBJECT.exec(r.value ?? '')?.[0] ?? '');
    expect(lostAndDoubled(subjects, written)).toEqual({ lost: [], doubled: [] });
    expect(lostAndDoubled(subjects, await mails())).toEqual({ lost: [], doubled: [] });
    // The group's new coordinator takes the commits within a session timeout (30 s) of the kill,
    // plus the time to notice; kafkajs alone took minutes to look for it.
    await waitFor(async () => {
      const committed = await env.kafka.admin.committedOffsets(groupId, topic);
      const ends = await env.kafka.admin.watermarks(topic);
      return ends.every((e) => committed.get(e.partition) === e.high);
    }, { timeoutMs: Math.max(1_000, COMMITTED_WITHIN_MS - (Date.now() - killedAt)), description: `every commands partition committed to its end within ${COMMITTED_WITHIN_MS / 1000} s of the kill` });
  } finally {
    await d.stop();
    await cluster.restart([topic, '__consumer_offsets']);
  }
}, 240_000);
