import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { CommandDefinition } from '../commands/registry';
import { defaultExport, loadModule } from '../runtime/load-module';
import type { ActivityFunction, KtoProjectConfig } from './define';
import { DEFAULT_PIPELINES_FILE, parsePipelines, parsePipelinesText, PipelinesFileError, type BatchPipelineConfig, type IngestPipelineConfig } from './pipelines-file';

/** Config files looked for in the working directory when KTO_CONFIG is not set, in this order. */
export const DEFAULT_CONFIG_FILES = ['kto.config.ts', 'kto.config.js'];

/** Everything a project declares, from `kto.config.ts` and `kto.pipelines.yaml` together: one registry. */
export interface LoadedPipelines {
  /** Absolute path of the pipelines file read, or null when there was none. */
  file: string | null;
  /** Absolute path of the config file read, or null when there was none. */
  configFile: string | null;
  /** Batch pipelines; a `processor` is an absolute module path. */
  batch: BatchPipelineConfig[];
  /** Ingest pipelines; a `source` is an absolute module path. */
  ingest: IngestPipelineConfig[];
  /** The project's own commands (kto's are added by the dispatcher). */
  commands: CommandDefinition[];
  /** Absolute path of the project's workflows module, or null. */
  workflowsPath: string | null;
  activities: Record<string, ActivityFunction>;
  /** The file that declares each pipeline, by name. */
  sourceOf: Record<string, string>;
}

/** The files the project was read from: its config file, then its pipelines file (none when neither exists). */
export function declaringFiles(project: Pick<LoadedPipelines, 'configFile' | 'file'>): string[] {
  return [project.configFile, project.file].filter((f): f is string => f !== null);
}

function configFileOf(env: Record<string, string | undefined>, cwd: string): string | null {
  if (env.KTO_CONFIG) {
    const file = path.resolve(cwd, env.KTO_CONFIG);
    if (!existsSync(file)) throw new PipelinesFileError(file, ['KTO_CONFIG points at a file that does not exist. Fix: create it or correct the path']);
    return file;
  }
  return DEFAULT_CONFIG_FILES.map((f) => path.resolve(cwd, f)).find((f) => existsSync(f)) ?? null;
}

function readConfigFile(file: string): KtoProjectConfig {
  let config: unknown;
  try {
    config = defaultExport(loadModule(file));
  } catch (err) {
    throw new PipelinesFileError(file, [`could not be loaded: ${(err as Error).message.split('\n')[0]}. Fix: correct the file (it must run with \`node\`, TypeScript through tsx)`]);
  }
  if (config === null || typeof config !== 'object') {
    throw new PipelinesFileError(file, ['has no default export. Fix: end it with `export default defineConfig({ ... })`']);
  }
  return config as KtoProjectConfig;
}

/** The config file's pipelines, validated by the same schema as the pipelines file's. */
function configPipelines(config: KtoProjectConfig, file: string) {
  const batch: unknown[] = [];
  const ingest: unknown[] = [];
  for (const p of config.pipelines ?? []) {
    const { kind, ...rest } = p as { kind?: unknown };
    if (kind === 'batch') batch.push(rest);
    else if (kind === 'ingest') ingest.push(rest);
    else throw new PipelinesFileError(file, [`pipelines: ${JSON.stringify((rest as { name?: unknown }).name ?? p)} is not declared with defineBatchPipeline or defineIngest. Fix: wrap it in one of them`]);
  }
  return parsePipelines({ batch, ingest }, file);
}

/** Upstream names must exist and be batch pipelines, and `after` must not form a cycle. */
function checkDependencies(batch: BatchPipelineConfig[], sourceOf: Record<string, string>): void {
  const byName = new Map(batch.map((p) => [p.name, p]));
  for (const p of batch) {
    for (const upstream of p.after ?? []) {
      if (!byName.has(upstream)) {
        throw new PipelinesFileError(sourceOf[p.name], [
          `batch pipeline "${p.name}": after names "${upstream}", which is not a batch pipeline. Fix: use one of ${[...byName.keys()].filter((n) => n !== p.name).join(', ') || '(none)'}`,
        ]);
      }
    }
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, trail: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      throw new PipelinesFileError(sourceOf[name], [`pipelines depend on each other in a cycle: ${cycle.join(' → ')}. Fix: remove one of these "after" entries`]);
    }
    state.set(name, 'visiting');
    for (const upstream of byName.get(name)?.after ?? []) visit(upstream, [...trail, name]);
    state.set(name, 'done');
  };
  for (const p of batch) visit(p.name, []);
}

/**
 * Reads the project: `kto.config.ts` (KTO_CONFIG, else `kto.config.ts` or `kto.config.js` in
 * `cwd`) and the pipelines file (KTO_PIPELINES_FILE, else `kto.pipelines.yaml` in `cwd`), either
 * or both. A missing default file means nothing declared there; a missing named file is an error.
 * @throws PipelinesFileError naming the file, the pipeline, the field and the fix.
 */
export function loadPipelines(env: Record<string, string | undefined> = process.env, cwd = process.cwd()): LoadedPipelines {
  const named = env.KTO_PIPELINES_FILE;
  const yamlFile = path.resolve(cwd, named ?? DEFAULT_PIPELINES_FILE);
  if (!existsSync(yamlFile) && named) throw new PipelinesFileError(yamlFile, ['KTO_PIPELINES_FILE points at a file that does not exist. Fix: create it or correct the path']);
  const configFile = configFileOf(env, cwd);
  const config = configFile ? readConfigFile(configFile) : {};
  const sources = [
    ...(existsSync(yamlFile) ? [{ file: yamlFile, pipelines: parsePipelinesText(readFileSync(yamlFile, 'utf8'), yamlFile) }] : []),
    ...(configFile ? [{ file: configFile, pipelines: configPipelines(config, configFile) }] : []),
  ];

  const loaded: LoadedPipelines = {
    file: existsSync(yamlFile) ? yamlFile : null,
    configFile,
    batch: [],
    ingest: [],
    commands: config.commands ?? [],
    workflowsPath: config.workflowsPath && configFile ? path.resolve(path.dirname(configFile), config.workflowsPath) : null,
    activities: config.activities ?? {},
    sourceOf: {},
  };
  for (const { file, pipelines } of sources) {
    for (const p of [...pipelines.batch, ...pipelines.ingest]) {
      if (loaded.sourceOf[p.name]) {
        throw new PipelinesFileError(file, [`pipeline name "${p.name}" is also declared in ${loaded.sourceOf[p.name]}. Fix: names must be unique across kto.config.ts and the pipelines file; rename one`]);
      }
      loaded.sourceOf[p.name] = file;
    }
    // Module paths are relative to the file that declares the pipeline.
    const resolve = (modulePath: string) => path.resolve(path.dirname(file), modulePath);
    loaded.batch.push(...pipelines.batch.map((p) => (p.processor === undefined ? p : { ...p, processor: resolve(p.processor) })));
    loaded.ingest.push(...pipelines.ingest.map((p) => (p.source === undefined ? p : { ...p, source: resolve(p.source) })));
  }
  checkDependencies(loaded.batch, loaded.sourceOf);
  return loaded;
}
