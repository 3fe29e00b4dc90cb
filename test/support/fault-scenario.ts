import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { useTestEnv } from './test-env';
import { startWorkerProcess, type WorkerProcess } from './worker-process';

/**
 * The frame of a fault test file: Kafka and Temporal clients (no in-process worker) and, per
 * scenario, a task queue of its own with worker processes that a test may kill -9. Every
 * worker process still alive after its test is killed.
 */
export function useFaultScenarios(area: string) {
  const env = useTestEnv(area, { worker: false });
  const workers: WorkerProcess[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.kill('SIGKILL')));
  });

  /** A scenario: its id, a directory for its processes' logs, its config and a way to start workers on its queue. */
  function scenario(name: string) {
    const id = `${name.replace(/\W+/g, '-')}-${randomUUID().slice(0, 8)}`;
    const dir = path.join(process.env.KTO_DEVSTACK_DIR!, area, id);
    const runConfig = { ...env.config, temporal: { ...env.config.temporal, taskQueue: `${area}-${id}` } };
    const worker = (hold?: string, label = 'a', extraEnv?: Record<string, string>) => {
      const w = startWorkerProcess({ taskQueue: runConfig.temporal.taskQueue, dir: path.join(dir, label), hold, env: extraEnv });
      workers.push(w);
      return w;
    };
    return { id, dir, runConfig, worker };
  }

  return { env, scenario };
}
