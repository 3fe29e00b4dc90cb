import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../runtime/errors';
import { loadPipelines } from '../project/load';
import { action } from './context';
import { newTable } from './format';

/** kto's own folder: the one holding its package.json, above this module in source and in dist. */
function packageRoot(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'templates', 'init'))) return dir;
  }
  throw new UserError(`kto's templates folder (templates/init) was not found above ${__dirname}.`, 'reinstall kto: the package ships it');
}

/** Templates whose real names npm would not ship (or would take for a package of its own). */
const RENAMED: Record<string, string> = { 'package.json.template': 'package.json', 'gitignore.template': '.gitignore' };

/** Writes a new project into `dir` from `templates/init`, with kto's own dependency ranges. */
export function scaffoldProject(dir: string): string[] {
  const target = path.resolve(dir);
  if (existsSync(target) && (!statSync(target).isDirectory() || readdirSync(target).length > 0)) {
    throw new UserError(`${target} exists and is not an empty folder, so kto init would overwrite files there.`, 'name a new folder, e.g. kto init my-pipelines');
  }
  const root = packageRoot();
  const kto = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string>; devDependencies: Record<string, string> };
  const all = { ...kto.devDependencies, ...kto.dependencies };
  const values: Record<string, string> = {
    name: path.basename(target).toLowerCase().replace(/[^a-z0-9._-]+/g, '-'),
    ktoVersion: `^${kto.version}`,
    temporalVersion: all['@temporalio/workflow'],
    zodVersion: all.zod,
    tsxVersion: all.tsx,
    typescriptVersion: all.typescript,
    typesNodeVersion: all['@types/node'],
  };
  mkdirSync(target, { recursive: true });
  cpSync(path.join(root, 'templates', 'init'), target, { recursive: true });
  const written: string[] = [];
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const file = path.join(folder, entry.name);
      if (entry.isDirectory()) {
        walk(file);
        continue;
      }
      writeFileSync(file, readFileSync(file, 'utf8').replace(/\{\{(\w+)\}\}/g, (_, key: string) => values[key] ?? `{{${key}}}`));
      const renamed = RENAMED[entry.name] ? path.join(folder, RENAMED[entry.name]) : file;
      if (renamed !== file) renameSync(file, renamed);
      written.push(path.relative(target, renamed));
    }
  };
  walk(target);
  return written.sort();
}

/** Adds `kto init` and `kto pipelines`. */
export function registerProjectCommands(program: Command): void {
  program
    .command('init')
    .description('create a project of your own: kto.config.ts, a reduce and a map pipeline, a command with its workflow and activity, tests')
    .argument('<dir>', 'new (or empty) folder for the project')
    .action(
      action((dir: string) => {
        const files = scaffoldProject(dir);
        process.stdout.write(
          `created ${path.resolve(dir)}: ${files.join(', ')}\n\nnext:\n  cd ${dir}\n` +
            '  npm install     # or, from a kto checkout: npm install <path>/kafka-temporal-orchestrator-<version>.tgz (made by npm pack)\n' +
            '  npm test        # unit and integration tests\n  npm run stack   # local stack + a worker for the project\n',
        );
      }),
    );

  program
    .command('pipelines')
    .description('list every pipeline of kto.config.ts and kto.pipelines.yaml: kind, schedule or upstreams, source file')
    .action(
      action(() => {
        const project = loadPipelines();
        const rows = [
          ...project.batch.map((p) => [p.name, 'batch', p.after ? `after ${p.after.join(', ')}` : p.schedule ? scheduleText(p.schedule) : 'manual', `${p.topic} → ${p.outputTopic}`]),
          ...project.ingest.map((p) => [p.name, 'ingest', p.schedule ? scheduleText(p.schedule) : 'manual', `→ ${p.topic}`]),
        ];
        if (rows.length === 0) {
          process.stdout.write('no pipelines: no kto.config.ts or kto.pipelines.yaml here (KTO_CONFIG and KTO_PIPELINES_FILE unset). Create a project with `kto init <dir>`.\n');
          return;
        }
        const table = newTable(['pipeline', 'kind', 'runs', 'topics', 'source']);
        for (const row of rows) table.push([...row, path.relative(process.cwd(), project.sourceOf[row[0]]) || project.sourceOf[row[0]]]);
        process.stdout.write(`${table.toString()}\n`);
      }),
    );
}

function scheduleText(schedule: { cron: string; enabled: boolean }): string {
  return `${schedule.cron}${schedule.enabled ? '' : ' (paused)'}`;
}
