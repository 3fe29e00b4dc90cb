import { Graph, layout } from '@dagrejs/dagre';
import type { ActivityStep, RunDetails } from '../temporal/runs';

/**
 * The console's picture of one batch run: the run, one node per partition child (or group child
 * of small partitions), and each child's steps, laid out left to right with dagre. Built from
 * `showRun` details only, so it shows what Temporal's histories say and nothing kto keeps elsewhere.
 */

export const NODE_STATUSES = ['completed', 'failed', 'running', 'not-started'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

/** The partition workflow's activities, in the order it runs them (workflows/partition.ts). */
export const PARTITION_STEPS = ['consume', 'commit', 'aggregate', 'produce'] as const;
/** A group child's activities per partition (workflows/partition-group.ts). */
export const GROUP_STEPS = ['consume', 'commitAggregateProduce'] as const;
type StepType = (typeof PARTITION_STEPS)[number] | (typeof GROUP_STEPS)[number];

export interface GraphNode {
  id: string;
  kind: 'run' | 'partition' | 'step';
  label: string;
  status: NodeStatus;
  durationMs: number | null;
  records: number | null;
  /** The workflow the node belongs to: its page in the Temporal UI. */
  workflowId: string;
  /** Why it failed, when it did. */
  failure: string | null;
}

export interface RunGraph {
  nodes: GraphNode[];
  edges: { from: string; to: string }[];
}

export interface PlacedNode extends GraphNode {
  /** Top-left corner and size, in SVG units. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PlacedGraph {
  nodes: PlacedNode[];
  edges: { from: string; to: string; points: { x: number; y: number }[] }[];
  width: number;
  height: number;
}

/** A workflow's status from Temporal's name for it (COMPLETED, RUNNING, FAILED, TIMED_OUT, ...). */
export function workflowNodeStatus(temporalStatus: string): NodeStatus {
  if (temporalStatus === 'COMPLETED') return 'completed';
  if (temporalStatus === 'RUNNING') return 'running';
  return 'failed';
}

function stepStatus(step: ActivityStep | undefined): NodeStatus {
  if (!step) return 'not-started';
  if (step.status === 'completed') return 'completed';
  if (step.status === 'scheduled' || step.status === 'running') return 'running';
  return 'failed';
}

const num = (value: unknown): number | null => (typeof value === 'number' ? value : null);

/**
 * Records a step handled: the pinned range's size for consume and commit, records written for
 * produce (a group child's: summed over its partitions).
 */
function stepRecords(step: StepType, child: RunDetails): number | null {
  const result = (child.result ?? {}) as { outputRecords?: unknown; summaries?: { outputRecords: number }[] };
  if (step === 'produce') return num(result.outputRecords);
  if (step === 'commitAggregateProduce') return Array.isArray(result.summaries) ? result.summaries.reduce((n, s) => n + s.outputRecords, 0) : null;
  return child.records ?? num(child.memo.records);
}

/** A group child's label: its first and last partition and how many it runs. */
function groupLabel(details: RunDetails | undefined): string | null {
  const partitions = details?.memo.partitions;
  if (!Array.isArray(partitions) || partitions.length === 0) return null;
  return `partitions ${partitions[0]}–${partitions[partitions.length - 1]} (${partitions.length})`;
}

/**
 * The graph of a batch run and its partition children. `children` holds each child's details
 * by workflow id; a child whose details could not be read (or that has not started) is shown
 * from the parent's history alone, its steps not started.
 */
export function buildRunGraph(run: RunDetails, children: ReadonlyMap<string, RunDetails>): RunGraph {
  const nodes: GraphNode[] = [
    { id: run.workflowId, kind: 'run', label: run.pipeline ? `${run.type} ${run.pipeline}` : run.workflowId, status: workflowNodeStatus(run.status), durationMs: run.durationMs, records: run.records, workflowId: run.workflowId, failure: run.failure },
  ];
  const edges: RunGraph['edges'] = [];
  for (const child of run.children) {
    const details = children.get(child.workflowId);
    const status: NodeStatus = details ? workflowNodeStatus(details.status) : child.status === 'completed' ? 'completed' : child.status === 'started' ? 'running' : 'failed';
    const partition = details?.partition ?? null;
    const grouped = child.type === 'partitionGroup';
    nodes.push({
      id: child.workflowId,
      kind: 'partition',
      label: (grouped ? groupLabel(details) : partition === null ? null : `partition ${partition}`) ?? child.workflowId,
      status,
      durationMs: details?.durationMs ?? null,
      records: details?.records ?? null,
      workflowId: child.workflowId,
      failure: details?.failure ?? null,
    });
    edges.push({ from: run.workflowId, to: child.workflowId });
    let previous = child.workflowId;
    for (const type of grouped ? GROUP_STEPS : PARTITION_STEPS) {
      // A step runs again when the partition moves to another worker, and once per partition of a
      // group; the last run is the one that counts.
      const step = details?.activities.filter((a) => a.type === type).at(-1);
      const id = `${child.workflowId}/${type}`;
      const stepState = stepStatus(step);
      nodes.push({
        id,
        kind: 'step',
        label: type,
        status: stepState,
        durationMs: step?.durationMs ?? null,
        records: details && stepState === 'completed' ? stepRecords(type, details) : null,
        workflowId: child.workflowId,
        failure: step?.failure ?? null,
      });
      edges.push({ from: previous, to: id });
      previous = id;
    }
  }
  return { nodes, edges };
}

const SIZES: Record<GraphNode['kind'], { width: number; height: number }> = {
  run: { width: 260, height: 56 },
  partition: { width: 180, height: 56 },
  step: { width: 190, height: 56 },
};

/** Positions for every node and a polyline per edge, computed by dagre (left to right). */
export function layoutRunGraph(graph: RunGraph): PlacedGraph {
  const g = new Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 36, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  // dagre stacks siblings bottom-up in the order they were added: reversed, partition 0 comes first.
  for (const node of [...graph.nodes].reverse()) g.setNode(node.id, { ...SIZES[node.kind] });
  for (const edge of [...graph.edges].reverse()) g.setEdge(edge.from, edge.to);
  layout(g);
  const nodes = graph.nodes.map((node) => {
    const placed = g.node(node.id) as { x: number; y: number; width: number; height: number };
    return { ...node, x: placed.x - placed.width / 2, y: placed.y - placed.height / 2, width: placed.width, height: placed.height };
  });
  const edges = graph.edges.map((edge) => ({ ...edge, points: ((g.edge(edge.from, edge.to) as { points?: { x: number; y: number }[] }).points ?? []).map(({ x, y }) => ({ x, y })) }));
  const { width = 0, height = 0 } = g.graph() as { width?: number; height?: number };
  return { nodes, edges, width, height };
}
