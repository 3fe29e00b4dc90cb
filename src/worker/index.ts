import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import {
  DefaultLogger,
  Runtime,
  Worker,
  bundleWorkflowCode,
  type ActivityInterceptorsFactory,
  type LogLevel,
  type NativeConnection,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { RunAlertActivityDeps } from '../../activities/run-alert';
import { withFailures } from '../../activities/failures';
import { redactConfig, type KtoConfig } from '../runtime/config';
import { UserError } from '../runtime/errors';
import { loadModule } from '../runtime/load-module';
import type { LoadedPipelines } from '../project/load';
import type { ActivityFunction } from '../project/define';
import { createKafkaIo } from '../kafka';
import type { Logger } from '../runtime/logger';
import { createMetricsServer } from '../runtime/metrics';
import { BATCH_STATE_TOPIC } from '../steps/batch-state';
import { createStepRunner } from '../steps/runner';
import { createLagGauge } from './lag-gauge';
import { createWorkerMetrics, telemetryInterceptor } from './telemetry';
import { connectWorker } from '../temporal/connection';
import { temporalUiUrl } from '../temporal/batch-run';
import { failedRunsBefore } from '../temporal/run-history';


export interface WorkerOptions {
  config: KtoConfig;
  logger: Logger;
  /** Resolves when the worker should stop; it then drains in-flight tasks and closes its clients. */
  stopSignal?: Promise<unknown>;
  /** Wraps every activity execution (metrics, tracing, fault injection in tests). */
  activityInterceptors?: ActivityInterceptorsFactory[];
  /** Prebuilt workflow code (see `bundleWorkflows`), so many short-lived workers skip the bundling. @default bundled at start */
  workflowBundle?: { code: string };
  /** The project's workflows, activities, processors and sources (kto.config.ts, kto.pipelines.yaml). @default kto's own only */
  project?: Pick<LoadedPipelines, 'batch' | 'commands' | 'workflowsPath' | 'activities'> & Partial<Pick<LoadedPipelines, 'ingest'>>;
  /**
   * How long a workflow task waits for the worker that has the run cached before any worker
   * takes it. A worker killed with -9 holds its runs back this long. @default Temporal's 10s
   */
  stickyQueueScheduleToStartTimeout?: Duration;
}

const TEMPORAL_LEVELS: Record<string, LogLevel> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR', fatal: 'ERROR' };

let runtimeInstalled = false;
function installRuntime(logger: Logger, level: string): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const temporalLogger = logger.child({ namespace: 'temporal' });
  Runtime.install({
    // kto orders its own shutdown (stop polling, drain, close Kafka), so the SDK must not exit on signals.
    shutdownSignals: [],
    logger: new DefaultLogger(TEMPORAL_LEVELS[level] ?? 'WARN', ({ level: l, message, meta }) => {
      const method = l === 'ERROR' ? 'error' : l === 'WARN' ? 'warn' : l === 'INFO' ? 'info' : 'debug';
      temporalLogger[method](meta ?? {}, message);
    }),
  });
}

const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();
/**
 * Workflow code is bundled once per process and shared by every worker in it: kto's workflows,
 * and with them the project's (`workflowsPath`), so one worker serves both.
 */
export function bundleWorkflows(projectWorkflows: string | null = null): Promise<WorkflowBundleWithSourceMap> {
  const key = projectWorkflows ?? '';
  let bundle = bundles.get(key);
  if (bundle === undefined) {
    const ktoWorkflows = require.resolve('../../workflows');
    if (projectWorkflows) {
      // `export *` of both would leave a name they share ambiguous: refuse it, naming the fix.
      const taken = Object.keys(loadModule(projectWorkflows) as object).filter((name) => name in (loadModule(ktoWorkflows) as object));
      if (taken.length > 0) {
        return Promise.reject(new UserError(`the project's workflows ${taken.join(', ')} (${projectWorkflows}) have the names of kto workflows.`, 'rename them'));
      }
    }
    const entry = projectWorkflows ? workflowsEntry(ktoWorkflows, projectWorkflows) : null;
    bundle = bundleWorkflowCode({
      workflowsPath: entry ?? ktoWorkflows,
      // The generated entry lives in the temp folder: Temporal's own modules resolve from kto's.
      webpackConfigHook: (webpack) => ({ ...webpack, resolve: { ...webpack.resolve, modules: ['node_modules', temporalModules()] } }),
      logger: new DefaultLogger('WARN'),
    }).finally(() => entry && rm(entry, { force: true }));
    bundles.set(key, bundle);
  }
  return bundle;
}

/** The node_modules folder kto resolves `@temporalio/workflow` from. */
function temporalModules(): string {
  return path.resolve(path.dirname(require.resolve('@temporalio/workflow/package.json')), '..', '..');
}

/** A module exporting kto's workflows and the project's: the bundle's entry. */
function workflowsEntry(ktoWorkflows: string, projectWorkflows: string): string {
  const file = path.join(os.tmpdir(), `kto-workflows-${process.pid}-${randomUUID().slice(0, 8)}.js`);
  writeFileSync(file, `export * from ${JSON.stringify(ktoWorkflows)};\nexport * from ${JSON.stringify(projectWorkflows)};\n`);
  return file;
}

/** Where a failed run's alert goes by default, how it counts the failed runs before it, and its link. */
function runAlertDeps(config: KtoConfig, connection: NativeConnection): RunAlertActivityDeps {
  const client = new Client({ connection, namespace: config.temporal.namespace });
  return {
    defaultRecipients: config.alertEmail,
    failedRunsBefore: (pipeline, runId) => failedRunsBefore(client, pipeline, runId),
    runUrl: (workflowId, runId) => `${temporalUiUrl(config, workflowId)}/${encodeURIComponent(runId)}`,
  };
}

/** kto's shared activities with the project's beside them; a project activity may not take the name of any kto activity. */
function withProjectActivities<A extends object>(shared: A, local: object, project: Record<string, ActivityFunction>): A {
  const taken = Object.keys(project).filter((name) => name in shared || name in local);
  if (taken.length > 0) throw new UserError(`the project's activities ${taken.join(', ')} have the names of kto activities.`, 'rename them in kto.config.ts');
  // The project's KtoErrors become Temporal failures as kto's do.
  return { ...shared, ...withFailures(project) };
}

/**
 * Runs kto's worker: workflows and the shared activities (with the project's) on the shared
 * task queue, and the worker-local activities on a queue only this process polls, where the
 * steps that need its local staging files run (Temporal's worker-specific task queue pattern).
 */
export async function runWorker({ config, logger, stopSignal, activityInterceptors = [], workflowBundle, project, stickyQueueScheduleToStartTimeout }: WorkerOptions): Promise<void> {
  installRuntime(logger, config.logLevel);
  const workerId = `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const workerQueue = `${config.temporal.taskQueue}@${workerId}`;
  const stagingDir = path.join(config.stagingDir, workerId);
  const log = logger.child({ namespace: 'worker', taskQueue: config.temporal.taskQueue, workerQueue });

  // The effective config (secrets masked) is the first thing to check when a worker misbehaves.
  log.info({ config: redactConfig(config) }, 'worker starting');
  // The gauge is built below, once Kafka is; activities only report pipelines after the worker started.
  const metrics = createWorkerMetrics(undefined, (pipeline, groupId, topic) => lagGauge.track({ pipeline, groupId, topic }));
  let workers: Worker[] = [];
  const metricsServer =
    config.metricsPort > 0
      ? createMetricsServer({
          port: config.metricsPort,
          host: config.metricsHost,
          registry: metrics.registry,
          logger,
          // Healthy while both pollers (shared and worker-specific queue) run; 503 before start and while draining.
          healthy: () => workers.length > 0 && workers.every((w) => w.getState() === 'RUNNING'),
        })
      : undefined;
  const connection = await connectWorker(config.temporal);
  const kafka = createKafkaIo(config.kafka, logger);
  const lagGauge = createLagGauge({ admin: kafka.admin, set: metrics.setLag, intervalMs: config.lagRefreshSeconds * 1000, logger });
  const steps = createStepRunner({ kafka, kafkaConfig: config.kafka, logLevel: config.logLevel, threads: config.stepThreads, heapMb: config.stepHeapMb });
  try {
    await metricsServer?.start();
    const batch = project?.batch ?? [];
    // Without a metrics server nobody reads the gauge.
    if (metricsServer) {
      for (const p of batch) lagGauge.track({ pipeline: p.name, groupId: p.groupId, topic: p.topic });
      lagGauge.start();
    }
    // Module paths by pipeline name: workflow inputs name a pipeline, each worker resolves its module.
    const processors = Object.fromEntries(batch.flatMap((p) => (p.processor ? [[p.name, p.processor]] : [])));
    const sources = Object.fromEntries((project?.ingest ?? []).flatMap((p) => (p.source ? [[p.name, p.source]] : [])));
    const projectDeps = { batch, commands: project?.commands ?? [], taskQueue: config.temporal.taskQueue, operatorEmail: config.alertOperatorEmail };
    const alerts = runAlertDeps(config, connection);
    const { shared, local } = createActivities({ kafka, steps, stagingDir, workerQueue, stateTopic: BATCH_STATE_TOPIC, smtp: config.smtp, logger, metrics: metrics.pipeline, processors, sources, schemaRegistry: config.schemaRegistry, project: projectDeps, alerts });
    const interceptors = { activity: [telemetryInterceptor(metrics, logger), ...activityInterceptors] };
    const common = { connection, namespace: config.temporal.namespace, interceptors };
    workers = await Promise.all([
      Worker.create({
        ...common,
        taskQueue: config.temporal.taskQueue,
        activities: withProjectActivities(shared, local, project?.activities ?? {}),
        workflowBundle: workflowBundle ?? (await bundleWorkflows(project?.workflowsPath)),
        ...(stickyQueueScheduleToStartTimeout !== undefined && { stickyQueueScheduleToStartTimeout }),
      }),
      Worker.create({ ...common, taskQueue: workerQueue, activities: local }),
    ]);
    log.info('worker started');
    const running = Promise.all(workers.map((w) => w.run()));
    void stopSignal?.then(() => {
      log.info('worker stopping: draining in-flight tasks');
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    });
    await running;
    log.info('worker stopped');
  } finally {
    await lagGauge.stop();
    await steps.close();
    await kafka.close();
    await connection.close();
    await metricsServer?.close();
    await rm(stagingDir, { recursive: true, force: true });
  }
}
