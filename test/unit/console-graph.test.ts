import { buildRunGraph, layoutRunGraph } from '../../src/console/graph';
import { escapeHtml, runGraphSvg } from '../../src/console/html';
import type { ActivityStep, RunDetails } from '../../src/temporal/runs';

const row = (workflowId: string, type: string, status: string): RunDetails => ({
  workflowId,
  runId: 'r',
  type,
  status,
  startTime: '2026-12-04T10:00:00.000Z',
  closeTime: null,
  durationMs: 1_200,
  pipeline: 'p',
  topic: 't',
  partition: null,
  records: 10,
  command: null,
  memo: {},
  activities: [],
  children: [],
  result: null,
  failure: null,
});
const step = (type: string, status: ActivityStep['status']): ActivityStep => ({ activityId: type, type, taskQueue: 'q', attempts: 1, status, scheduledAt: '', durationMs: 5, failure: status === 'failed' ? 'boom' : null });

test('a run, a completed, a failed and a running partition: every step gets the status of its last attempt, or not started', () => {
  const run = { ...row('b', 'batch', 'FAILED'), children: [0, 1, 2].map((p) => ({ workflowId: `b-p${p}`, type: 'partition', status: 'started' as const })) };
  const children = new Map([
    ['b-p0', { ...row('b-p0', 'partition', 'COMPLETED'), partition: 0, result: { outputRecords: 4 }, activities: ['consume', 'commit', 'aggregate', 'produce'].map((t) => step(t, 'completed')) }],
    ['b-p1', { ...row('b-p1', 'partition', 'FAILED'), partition: 1, activities: [step('consume', 'completed'), step('commit', 'completed'), step('aggregate', 'failed')] }],
  ]);
  const graph = buildRunGraph(run, children);
  const status = (id: string) => graph.nodes.find((n) => n.id === id)?.status;
  expect(graph.nodes).toHaveLength(1 + 3 + 12);
  expect(graph.edges).toHaveLength(3 + 12);
  expect(status('b')).toBe('failed');
  expect([status('b-p0'), status('b-p1'), status('b-p2')]).toEqual(['completed', 'failed', 'running']);
  expect(['consume', 'commit', 'aggregate', 'produce'].map((s) => status(`b-p1/${s}`))).toEqual(['completed', 'completed', 'failed', 'not-started']);
  expect(['consume', 'produce'].map((s) => graph.nodes.find((n) => n.id === `b-p0/${s}`)?.records)).toEqual([10, 4]);

  const placed = layoutRunGraph(graph);
  const y = (id: string) => placed.nodes.find((n) => n.id === id)!.y;
  expect(y('b-p0')).toBeLessThan(y('b-p1'));
  expect(y('b-p1')).toBeLessThan(y('b-p2'));
  expect(placed.edges.every((e) => e.points.length >= 2)).toBe(true);
});

test('values from Temporal are escaped in the graph', () => {
  const run = { ...row('<script>x</script>', 'batch', 'COMPLETED'), pipeline: null };
  const svg = runGraphSvg(layoutRunGraph(buildRunGraph(run, new Map())), (id) => `http://ui/${id}?a=1&b="2"`);
  expect(svg).not.toContain('<script>');
  expect(svg).toContain('&lt;script&gt;x&lt;/script&gt;');
  expect(svg).toContain('a=1&amp;b=&quot;2&quot;');
  expect(escapeHtml(`'&`)).toBe('&#39;&amp;');
});

test('a group child of small partitions: labelled with its partitions, its two steps per partition shown once, produce records summed', () => {
  const run = { ...row('b', 'batch', 'COMPLETED'), children: [{ workflowId: 'b-p0-p2', type: 'partitionGroup', status: 'completed' as const }] };
  const summaries = [3, 4, 5].map((outputRecords) => ({ outputRecords }));
  const activities = [0, 1, 2].flatMap(() => [step('consume', 'completed'), step('commitAggregateProduce', 'completed')]);
  const children = new Map([['b-p0-p2', { ...row('b-p0-p2', 'partitionGroup', 'COMPLETED'), memo: { partitions: [0, 1, 2] }, result: { summaries, failures: [] }, activities }]]);
  const graph = buildRunGraph(run, children);
  expect(graph.nodes.map((n) => [n.label, n.status, n.records])).toEqual([
    ['batch p', 'completed', 10],
    ['partitions 0–2 (3)', 'completed', 10],
    ['consume', 'completed', 10],
    ['commitAggregateProduce', 'completed', 12],
  ]);
});
