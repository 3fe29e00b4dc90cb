import type { GroupLag } from '../status/lag';
import type { PipelineStatus, StatusReport } from '../status/collect';
import type { RunDetails, RunRow } from '../temporal/runs';
import type { NodeStatus, PlacedGraph } from './graph';

/**
 * The console's pages as server-rendered HTML with inline SVG: no script, no external asset.
 * Every value from Kafka, Temporal or the project goes through `escapeHtml`.
 */

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** Fill and border per status; the legend and the graph use the same. */
export const STATUS_COLORS: Record<NodeStatus, { fill: string; stroke: string }> = {
  completed: { fill: '#d9f2dd', stroke: '#2e8b3e' },
  failed: { fill: '#fbd5d5', stroke: '#c62828' },
  running: { fill: '#dbe8fb', stroke: '#1f5fbf' },
  'not-started': { fill: '#eeeeee', stroke: '#9e9e9e' },
};

export function duration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1_000)} s`;
}

const STYLE = `body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0 24px}
th,td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left;vertical-align:top}a{color:#1f5fbf}
.verdict-ok{color:#2e8b3e}.verdict-behind{color:#b26a00}.verdict-failing{color:#c62828}.verdict-paused{color:#666}
.legend span{display:inline-block;padding:2px 8px;margin-right:6px;border:1px solid}small{color:#666}`;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

const runLink = (workflowId: string) => `/runs/${encodeURIComponent(workflowId)}`;

/** One bar per partition, its length proportional to the partition's lag (the longest fills the width). */
export function lagBars(lag: GroupLag): string {
  const rowHeight = 18;
  const barWidth = 240;
  const max = Math.max(1, ...lag.partitions.map((p) => p.lag));
  const rows = lag.partitions.map((p, i) => {
    const y = i * rowHeight;
    const w = p.lag === 0 ? 0 : Math.max(2, Math.round((p.lag / max) * barWidth));
    return (
      `<g data-partition="${p.partition}" data-lag="${p.lag}"><text x="0" y="${y + 13}" font-size="12">p${p.partition}</text>` +
      `<rect x="40" y="${y + 3}" width="${w}" height="12" fill="${p.lag > 0 ? '#e0a030' : '#2e8b3e'}"/>` +
      `<text x="${46 + w}" y="${y + 13}" font-size="12">${p.lag}</text></g>`
    );
  });
  const height = Math.max(rowHeight, lag.partitions.length * rowHeight);
  return `<svg class="lag" role="img" aria-label="lag per partition" width="${barWidth + 110}" height="${height}" viewBox="0 0 ${barWidth + 110} ${height}">${rows.join('')}</svg>`;
}

function pipelineRow(p: PipelineStatus, uiUrl: (workflowId: string) => string): string {
  const run = p.lastRun;
  const lastRun = run
    ? `<a href="${escapeHtml(runLink(run.workflowId))}">${escapeHtml(run.status)}</a> <small>${escapeHtml(run.startTime)} · ${escapeHtml(duration(run.durationMs))} · <a href="${escapeHtml(uiUrl(run.workflowId))}">Temporal UI</a></small>`
    : '-';
  const next = p.schedule ? (p.schedule.paused ? 'paused' : escapeHtml(p.schedule.nextRun ?? '-')) : 'no schedule';
  const lag = p.lag ? `${lagBars(p.lag)}<br><small>total ${p.lag.total} on ${escapeHtml(p.lag.topic)}</small>` : escapeHtml(p.error ?? '-');
  return (
    `<tr data-pipeline="${escapeHtml(p.name)}"><td>${escapeHtml(p.name)}<br><small>${escapeHtml(p.kind)}</small></td>` +
    `<td class="verdict-${escapeHtml(p.verdict)}" data-verdict="${escapeHtml(p.verdict)}">${escapeHtml(p.verdict)}<br><small>${escapeHtml(p.reason)}</small></td>` +
    `<td>${lag}</td><td>${lastRun}</td><td>${next}</td></tr>`
  );
}

export function statusPage(report: StatusReport, runs: RunRow[], uiUrl: (workflowId: string) => string): string {
  const pipelines = report.pipelines.length
    ? `<table class="status"><tr><th>pipeline</th><th>verdict</th><th>lag per partition</th><th>last run</th><th>next run</th></tr>${report.pipelines.map((p) => pipelineRow(p, uiUrl)).join('')}</table>`
    : '<p>No pipelines in this project.</p>';
  const rows = runs.map(
    (r) =>
      `<tr data-workflow-id="${escapeHtml(r.workflowId)}"><td><a href="${escapeHtml(runLink(r.workflowId))}">${escapeHtml(r.workflowId)}</a></td><td>${escapeHtml(r.type)}</td>` +
      `<td>${escapeHtml(r.status)}</td><td>${escapeHtml(r.startTime)}</td><td>${escapeHtml(duration(r.durationMs))}</td><td>${escapeHtml(r.records ?? '-')}</td></tr>`,
  );
  const recent = runs.length
    ? `<table class="runs"><tr><th>workflow id</th><th>type</th><th>status</th><th>start</th><th>duration</th><th>records</th></tr>${rows.join('')}</table>`
    : '<p>No batch runs yet.</p>';
  return page('kto status', `<h1>kto status</h1><p><small>read ${escapeHtml(report.generatedAt)}</small></p>${pipelines}<h2>Recent batch runs</h2>${recent}`);
}

function nodeSvg(node: PlacedGraph['nodes'][number], uiUrl: (workflowId: string) => string): string {
  const { fill, stroke } = STATUS_COLORS[node.status];
  const detail = [node.status.replace('-', ' '), node.durationMs === null ? null : duration(node.durationMs), node.records === null ? null : `${node.records} records`].filter((s) => s !== null).join(' · ');
  const title = node.failure ? `${node.label}: ${node.failure}` : `${node.label}: ${node.status}`;
  return (
    `<a href="${escapeHtml(uiUrl(node.workflowId))}"><g class="node" data-id="${escapeHtml(node.id)}" data-kind="${node.kind}" data-status="${node.status}">` +
    `<title>${escapeHtml(title)}</title>` +
    `<rect x="${node.x}" y="${node.y}" width="${node.width}" height="${node.height}" rx="6" fill="${fill}" stroke="${stroke}" stroke-width="${node.status === 'failed' ? 3 : 1.5}"/>` +
    `<text x="${node.x + 8}" y="${node.y + 22}" font-size="13" font-weight="600">${escapeHtml(node.label)}</text>` +
    `<text x="${node.x + 8}" y="${node.y + 42}" font-size="11" fill="#444">${escapeHtml(detail)}</text></g></a>`
  );
}

export function runGraphSvg(graph: PlacedGraph, uiUrl: (workflowId: string) => string): string {
  const edges = graph.edges.map((e) => `<polyline fill="none" stroke="#888" stroke-width="1.2" points="${e.points.map((p) => `${p.x},${p.y}`).join(' ')}"/>`);
  return (
    `<svg class="run-graph" role="img" aria-label="run graph" width="${Math.ceil(graph.width)}" height="${Math.ceil(graph.height)}" viewBox="0 0 ${Math.ceil(graph.width)} ${Math.ceil(graph.height)}">` +
    `${edges.join('')}${graph.nodes.map((n) => nodeSvg(n, uiUrl)).join('')}</svg>`
  );
}

export function runPage(run: RunDetails, graph: PlacedGraph, uiUrl: (workflowId: string) => string): string {
  const legend = Object.entries(STATUS_COLORS)
    .map(([status, c]) => `<span style="background:${c.fill};border-color:${c.stroke}">${status.replace('-', ' ')}</span>`)
    .join('');
  const failure = run.failure ? `<p class="failure">failure: ${escapeHtml(run.failure)}</p>` : '';
  return page(
    `kto run ${run.workflowId}`,
    `<p><a href="/">← status</a></p><h1>${escapeHtml(run.type)} ${escapeHtml(run.workflowId)}</h1>` +
      `<p>${escapeHtml(run.status)} · started ${escapeHtml(run.startTime)} · ${escapeHtml(duration(run.durationMs))} · <a href="${escapeHtml(uiUrl(run.workflowId))}">history in the Temporal UI</a></p>` +
      `${failure}<p class="legend">${legend}<small>each node opens its workflow in the Temporal UI</small></p>${runGraphSvg(graph, uiUrl)}`,
  );
}

export function errorPage(status: number, message: string, fix: string): string {
  return page(`kto console: ${status}`, `<p><a href="/">← status</a></p><h1>${status}</h1><p>${escapeHtml(message)}</p><p>Fix: ${escapeHtml(fix)}</p>`);
}
