import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { Kafka, type Producer } from 'kafkajs';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { onShutdownSignal } from '../../src/runtime/signals';
import { loadConfig } from '../../src/runtime/config';
import { createLogger } from '../../src/runtime/logger';
import { loadPipelines } from '../../src/project/load';
import { runWorker } from '../../src/worker';
import { testWorkflowBundle } from './test-env';

/**
 * A real kto worker with one hook for fault tests: KTO_TEST_HOLD=`before:<activity>` or
 * `after:<activity>` parks every such activity at that point (still heartbeating, like a live
 * worker), writes `<KTO_TEST_HOLD_DIR>/held` and waits for a `release` file. The test then
 * kills, freezes or releases the process, or breaks something around it. When the held
 * activity ends, `done` says how (only the attempt that held: a stale retry the process picks up
 * after a freeze writes nothing). Two more points: `commit:produce` parks the produce step
 * inside its transaction, after the output was sent and before EndTxn; `send:produce` parks it
 * after its first produce request, with more to send.
 */
const [phase, activityType] = (process.env.KTO_TEST_HOLD ?? ':').split(':');
const dir = process.env.KTO_TEST_HOLD_DIR ?? '.';

/** The activity attempt that parked, so that only its end is reported. */
let heldAttempt: string | undefined;
const attemptOf = (info: Context['info']): string => `${info.workflowExecution?.workflowId}/${info.activityId}/${info.attempt}`;

async function hold(where: string): Promise<void> {
  const context = Context.current();
  heldAttempt = attemptOf(context.info);
  writeFileSync(path.join(dir, 'held'), JSON.stringify({ where, pid: process.pid, activityId: context.info.activityId }));
  while (!existsSync(path.join(dir, 'release'))) {
    context.heartbeat({ held: where });
    await new Promise((r) => setTimeout(r, 100));
  }
}

class HoldInterceptor implements ActivityInboundCallsInterceptor {
  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const info = Context.current().info;
    const target = info.activityType === activityType;
    const held = (): boolean => heldAttempt === attemptOf(info);
    if (phase === 'before' && target) await hold(`before:${activityType}`);
    try {
      const result = await next(input);
      if (phase === 'after' && target) await hold(`after:${activityType}`);
      if (held()) writeFileSync(path.join(dir, 'done'), 'completed');
      return result;
    } catch (err) {
      if (held()) writeFileSync(path.join(dir, 'done'), `failed: ${(err as Error).message}`);
      throw err;
    }
  }
}

/** The activity running in this async context, if any. */
function currentActivity(): string | undefined {
  try {
    return Context.current().info.activityType;
  } catch {
    return undefined;
  }
}

if (phase === 'commit' || phase === 'send') {
  // Every transaction kto opens goes through kafkajs's producer(): park those the held activity
  // opens before their commit (records sent, EndTxn not asked for) or after their first send.
  const proto = Kafka.prototype as unknown as { producer: (...args: unknown[]) => Producer };
  const producer = proto.producer;
  proto.producer = function (this: Kafka, ...args: unknown[]) {
    const p = producer.apply(this, args);
    const transaction = p.transaction.bind(p);
    p.transaction = async () => {
      const txn = await transaction();
      const commit = txn.commit.bind(txn);
      const sendBatch = txn.sendBatch.bind(txn);
      let sent = 0;
      txn.commit = async () => {
        if (phase === 'commit' && currentActivity() === activityType) await hold(`commit:${activityType}`);
        return commit();
      };
      txn.sendBatch = async (batch) => {
        const result = await sendBatch(batch);
        if (phase === 'send' && ++sent === 1 && currentActivity() === activityType) await hold(`send:${activityType}`);
        return result;
      };
      return txn;
    };
    return p;
  };
}

const config = loadConfig();
void runWorker({
  config,
  logger: createLogger({ level: config.logLevel, pretty: false }),
  stopSignal: onShutdownSignal(),
  activityInterceptors: [() => ({ inbound: new HoldInterceptor() })],
  // The global setup bundles the workflow code once for every worker process of the run.
  workflowBundle: testWorkflowBundle(),
  // With KTO_CONFIG set, the project's processors too, as `kto worker` in its folder.
  project: process.env.KTO_CONFIG ? loadPipelines() : undefined,
  // A test kills workers with -9: the survivor takes the dead worker's cached runs after 1 s, not 10.
  stickyQueueScheduleToStartTimeout: '1s',
});
