import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import * as workflows from '../../workflows';
import { bundleWorkflows } from '../../src/worker';
import { readHistories } from '../support/histories';

/**
 * Histories of real runs on the real stack (recorded by test/integration/record-histories.test.ts)
 * replayed against today's workflow code: a change that would break runs in flight when a worker
 * is upgraded (a step added, removed or reordered without `patched()`) fails here.
 */
const histories = readHistories();

let workflowBundle: WorkflowBundleWithSourceMap;
beforeAll(async () => {
  workflowBundle = await bundleWorkflows();
});

test('every kto workflow has a recorded history', () => {
  const recorded = new Set(histories.map(({ history }) => history.events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name));
  const kto = Object.entries(workflows).filter(([, value]) => typeof value === 'function').map(([name]) => name);
  expect(kto.filter((name) => !recorded.has(name))).toEqual([]);
});

test.each(histories.map(({ file, history }) => [file, history] as const))('%s replays against the current workflow code', async (file, history) => {
  await expect(Worker.runReplayHistory({ workflowBundle }, history, file)).resolves.toBeUndefined();
});
