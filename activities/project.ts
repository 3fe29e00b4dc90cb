import { KtoError } from '../src/runtime/errors';
import { isRejection, projectCommandRegistry, type CommandDefinition } from '../src/commands/registry';
import { batchOptionsOf, type BatchPipelineConfig } from '../src/project/pipelines-file';
import type { BatchPipelineOptions } from '../src/shared/batch';
import type { CommandStart, StartCommandRequest } from '../src/shared/project';

export interface ProjectActivityDeps {
  /** The project's batch pipelines as this worker loaded them. */
  batch: BatchPipelineConfig[];
  /** The project's commands; kto's are added here. */
  commands: CommandDefinition[];
  /** Queue of commands that name none. */
  taskQueue: string;
  /** Receives the failure alert of `app.send_email_alert`. */
  operatorEmail?: string;
}

/**
 * What workflow code needs from the project's registry (`kafka-temporal-orchestrator/workflows`
 * and `after:`): pipelines by name and commands checked as the dispatcher checks them. The
 * registry lives in the worker's process; workflows reach it only through these activities.
 */
export function createProjectActivities({ batch, commands, taskQueue, operatorEmail }: ProjectActivityDeps) {
  const registry = projectCommandRegistry({ taskQueue, operatorEmail, commands });
  return {
    /** The workflow input of a declared batch pipeline. */
    async batchPipelineOptions(name: string): Promise<BatchPipelineOptions> {
      const found = batch.find((p) => p.name === name);
      if (!found) {
        throw new KtoError(
          `no batch pipeline named "${name}" on this worker (known: ${batch.map((p) => p.name).join(', ') || 'none'}). Fix: declare it in kto.config.ts or kto.pipelines.yaml and restart the worker`,
          { type: 'PipelineNotFound' },
        );
      }
      return batchOptionsOf(found);
    },

    /** The pipelines declared `after` this one, as workflow inputs. */
    async downstreamPipelines(name: string): Promise<BatchPipelineOptions[]> {
      return batch.filter((p) => p.after?.includes(name)).map(batchOptionsOf);
    },

    /** Resolves a command a workflow starts, with the dispatcher's registry: only declared commands, params validated. */
    async resolveCommand(request: StartCommandRequest): Promise<CommandStart> {
      const resolved = registry.resolveCommand(
        { command: request.command, params: request.params, idempotencyKey: request.idempotencyKey },
        { topic: request.caller, partition: 0, offset: BigInt(request.sequence) },
      );
      if (isRejection(resolved)) throw new KtoError(`command rejected (${resolved.reason}): ${resolved.detail}`, { type: 'CommandRejected' });
      return { workflowType: resolved.workflowType, workflowId: resolved.workflowId, taskQueue: resolved.taskQueue, args: resolved.args, startOptions: resolved.startOptions };
    },
  };
}
