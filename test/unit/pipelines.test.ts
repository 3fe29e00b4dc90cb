import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { VOLTAGE_DAILY_PIPELINE } from '../../src/demo/voltage';
import { loadPipelines } from '../../src/project/load';
import { batchOptionsOf, ingestOptionsOf, parsePipelines, parsePipelinesText, PipelinesFileError } from '../../src/project/pipelines-file';
import { desiredSchedule, NO_CATCHUP_WINDOW } from '../../src/temporal/schedules';

const root = path.resolve(__dirname, '../..');
const minimal = { name: 'p1', topic: 'in', outputTopic: 'out', groupId: 'g' };

/** The problems of a file that must fail, one string per problem. */
function problems(input: unknown, file = 'pipelines.yaml'): string[] {
  try {
    parsePipelines(input, file);
  } catch (err) {
    expect(err).toBeInstanceOf(PipelinesFileError);
    expect((err as Error).message).toContain(file);
    return (err as PipelinesFileError).problems;
  }
  throw new Error('expected the pipelines file to be rejected');
}

describe('pipelines file', () => {
  test('the sample kto.pipelines.yaml parses and its voltage-daily is the demo pipeline', () => {
    const file = path.join(root, 'kto.pipelines.yaml');
    const parsed = parsePipelinesText(readFileSync(file, 'utf8'), file);
    const p = parsed.batch.find((b) => b.name === 'voltage-daily');
    expect(p).toMatchObject(VOLTAGE_DAILY_PIPELINE);
    expect(p!.schedule).toEqual({ cron: '@daily', enabled: true, timeout: '60m', catchup: false, overlap: 'skip' });
    expect(p!.aggregation).toMatchObject({ timestampFormat: 'dd/MM/yyyy HH:mm:ss', bucket: 'day', valueField: 'voltage' });
  });

  test('fills schedule defaults: @daily, enabled, 60m, no catch-up, skip overlap', () => {
    const parsed = parsePipelines({ batch: [{ ...minimal, schedule: {} }] });
    expect(parsed.batch[0].schedule).toEqual({ cron: '@daily', enabled: true, timeout: '60m', catchup: false, overlap: 'skip' });
  });

  test('a pipeline without schedule has none, and an empty file has no pipelines', () => {
    expect(parsePipelines({ batch: [minimal] }).batch[0].schedule).toBeUndefined();
    expect(parsePipelines(null).batch).toEqual([]);
  });

  test('the workflow input carries the name as pipeline and drops schedule and unset fields', () => {
    const [p] = parsePipelines({ batch: [{ ...minimal, maxConcurrentPartitions: 4, schedule: { cron: '0 2 * * *' } }] }).batch;
    expect(batchOptionsOf(p)).toEqual({ pipeline: 'p1', topic: 'in', outputTopic: 'out', groupId: 'g', maxConcurrentPartitions: 4 });
  });

  test('a missing topic names the pipeline and the field', () => {
    const [problem] = problems({ batch: [{ name: 'voltage-daily', outputTopic: 'out', groupId: 'g' }] });
    expect(problem).toMatch(/^batch\[0\] \(voltage-daily\)\.topic: topic is required/);
    expect(problem).toContain('Fix: add it');
  });

  test('a cron of the wrong type names the field and says what it must be', () => {
    const [problem] = problems({ batch: [{ ...minimal, schedule: { cron: 5 } }] });
    expect(problem).toMatch(/^batch\[0\] \(p1\)\.schedule\.cron: cron must be a string/);
  });

  test('a cron with too few fields is rejected before Temporal sees it', () => {
    expect(problems({ batch: [{ ...minimal, schedule: { cron: 'daily' } }] })[0]).toContain('schedule.cron: cron must be a macro');
  });

  test('unknown keys are named, in a pipeline, in its schedule and at the top level', () => {
    expect(problems({ batch: [{ ...minimal, partitons: 8 }] })[0]).toMatch(/^batch\[0\] \(p1\): unknown key partitons\. Fix: remove or correct "partitons"/);
    expect(problems({ batch: [{ ...minimal, schedule: { cron: '@daily', timezone: 'UTC' } }] })[0]).toMatch(/^batch\[0\] \(p1\)\.schedule: unknown key timezone/);
    expect(problems({ bacth: [] })[0]).toMatch(/^\(file\): unknown key bacth/);
  });

  test('bad values: timeout, overlap, duplicate names, aggregation fields', () => {
    expect(problems({ batch: [{ ...minimal, schedule: { timeout: 60 } }] })[0]).toContain('schedule.timeout: timeout must be a duration');
    expect(problems({ batch: [{ ...minimal, schedule: { overlap: 'never' } }] })[0]).toContain('schedule.overlap: overlap must be one of skip');
    expect(problems({ batch: [minimal, minimal] })[0]).toContain('batch[1] (p1).name: name "p1" is used twice');
    expect(problems({ batch: [{ ...minimal, aggregation: { bucket: 'week' } }] })[0]).toMatch(/^batch\[0\] \(p1\)\.aggregation\.bucket:/);
  });

  test('invalid YAML names the file', () => {
    expect(() => parsePipelinesText('batch: [\n  - name: x\n', '/tmp/bad.yaml')).toThrow(/\/tmp\/bad\.yaml[\s\S]*not valid YAML/);
  });

  test('loadPipelines: default file only if present, KTO_PIPELINES_FILE must exist, JSON works', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kto-pipelines-'));
    expect(loadPipelines({}, dir)).toMatchObject({ file: null, configFile: null, batch: [], ingest: [], commands: [] });
    expect(() => loadPipelines({ KTO_PIPELINES_FILE: 'missing.yaml' }, dir)).toThrow(/missing\.yaml[\s\S]*does not exist/);
    writeFileSync(path.join(dir, 'p.json'), JSON.stringify({ batch: [minimal] }));
    const loaded = loadPipelines({ KTO_PIPELINES_FILE: 'p.json' }, dir);
    expect(loaded.file).toBe(path.join(dir, 'p.json'));
    expect(loaded.batch.map((p) => p.name)).toEqual(['p1']);
  });
});

describe('kto.config.ts', () => {
  const fixture = path.join(__dirname, '../fixtures/user-project');

  test('feeds the same registry as the pipelines file; processor paths resolve from the declaring file', () => {
    const loaded = loadPipelines({ KTO_CONFIG: path.join(fixture, 'kto.config.ts') }, os.tmpdir());
    expect(loaded.configFile).toBe(path.join(fixture, 'kto.config.ts'));
    expect(loaded.batch.map((p) => [p.name, p.processor])).toEqual([
      ['latency-p95', path.join(fixture, 'processors/latency-p95.ts')],
      ['server-errors', path.join(fixture, 'processors/server-errors.ts')],
      ['slowest-hour', path.join(fixture, 'processors/slowest-hour.ts')],
      ['order-totals', path.join(fixture, 'processors/order-totals.ts')],
      ['voltage-peaks', path.join(fixture, 'processors/voltage-peaks.ts')],
    ]);
    expect(loaded.batch[2].after).toEqual(['latency-p95']);
    expect(loaded.sourceOf['latency-p95']).toBe(path.join(fixture, 'kto.config.ts'));
    // The workflow input names the processor by pipeline: each worker resolves the path itself.
    expect(batchOptionsOf(loaded.batch[0])).toMatchObject({ pipeline: 'latency-p95', processor: 'latency-p95' });
    expect(batchOptionsOf(loaded.batch[0])).not.toHaveProperty('after');
  });

  function project(config: string, yaml?: string) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kto-project-'));
    writeFileSync(path.join(dir, 'kto.config.js'), config);
    if (yaml) writeFileSync(path.join(dir, 'kto.pipelines.yaml'), yaml);
    return dir;
  }
  const batch = (name: string, extra = '') => `{ kind: 'batch', name: '${name}', topic: 'in', outputTopic: 'out', groupId: '${name}'${extra} }`;

  test('rejects unknown upstreams, cycles, names declared twice, undeclared pipelines and a missing default export, naming the file and the fix', () => {
    const unknown = project(`module.exports = { pipelines: [${batch('a', ", after: ['nope']")}] };`);
    expect(() => loadPipelines({}, unknown)).toThrow(/kto\.config\.js[\s\S]*"a": after names "nope", which is not a batch pipeline/);
    const cycle = project(`module.exports = { pipelines: [${batch('a', ", after: ['b']")}, ${batch('b', ", after: ['c']")}, ${batch('c', ", after: ['a']")}] };`);
    expect(() => loadPipelines({}, cycle)).toThrow(/cycle: a → b → c → a/);
    const twice = project(`module.exports = { pipelines: [${batch('a')}] };`, 'batch:\n  - { name: a, topic: in, outputTopic: out, groupId: g }\n');
    expect(() => loadPipelines({}, twice)).toThrow(/"a" is also declared in .*kto\.pipelines\.yaml/);
    const plain = project(`module.exports = { pipelines: [{ name: 'x' }] };`);
    expect(() => loadPipelines({}, plain)).toThrow(/not declared with defineBatchPipeline or defineIngest/);
    const empty = project('module.exports = undefined;');
    expect(() => loadPipelines({}, empty)).toThrow(/no default export/);
    const both = project(`module.exports = { pipelines: [${batch('a', ", processor: './p.js', aggregation: {}")}] };`);
    expect(() => loadPipelines({}, both)).toThrow(/processor and aggregation exclude each other/);
    const orphanOptions = project(`module.exports = { pipelines: [${batch('a', ', processorOptions: { n: 1 }')}] };`);
    expect(() => loadPipelines({}, orphanOptions)).toThrow(/processorOptions configures a processor: add "processor"/);
    expect(() => loadPipelines({ KTO_CONFIG: 'nope.ts' }, empty)).toThrow(/KTO_CONFIG points at a file that does not exist/);
  });
});

describe('one registry whichever way a pipeline is declared', () => {
  const DEFINE = require.resolve('../../src/project/define');
  /** A project folder holding `kto.config.js` that declares `pipelines` with the define functions, as a user writes it. */
  function configProject(pipelines: string): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kto-define-'));
    writeFileSync(path.join(dir, 'kto.config.js'), `const { defineBatchPipeline, defineIngest } = require(${JSON.stringify(DEFINE)});\nmodule.exports = { pipelines: [${pipelines}] };\n`);
    return dir;
  }
  /** A project folder holding only `kto.pipelines.yaml`. */
  function yamlProject(text: string): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kto-yaml-'));
    writeFileSync(path.join(dir, 'kto.pipelines.yaml'), text);
    return dir;
  }

  test('voltage-daily from kto.pipelines.yaml and from defineBatchPipeline give the same registry entry', () => {
    const yamlText = readFileSync(path.join(root, 'kto.pipelines.yaml'), 'utf8');
    const raw = (parseYaml(yamlText) as { batch: { name: string }[] }).batch.find((p) => p.name === 'voltage-daily');
    const fromYaml = loadPipelines({}, yamlProject(yamlText)).batch;
    const fromConfig = loadPipelines({}, configProject(`defineBatchPipeline(${JSON.stringify(raw)})`)).batch;
    expect(fromConfig).toEqual(fromYaml);
    expect(fromYaml.map((p) => p.name)).toEqual(['voltage-daily']);
    expect(batchOptionsOf(fromConfig[0])).toEqual(batchOptionsOf(fromYaml[0]));
  });

  test('an ingest pipeline, url or source form, from the pipelines file and from defineIngest gives the same registry entry; source paths resolve from the declaring file', () => {
    const pipelines = [
      { name: 'users', url: 'http://127.0.0.1:8099/api/?results=5', topic: 'users', schedule: { enabled: true } },
      { name: 'orders', source: './sources/orders.ts', sourceOptions: { region: 'eu' }, topic: 'orders', windowMs: 60_000 },
    ];
    const yamlDir = yamlProject(JSON.stringify({ ingest: pipelines }));
    const configDir = configProject(pipelines.map((p) => `defineIngest(${JSON.stringify(p)})`).join(', '));
    const fromYaml = loadPipelines({}, yamlDir).ingest;
    const fromConfig = loadPipelines({}, configDir).ingest;
    expect(fromYaml[1].source).toBe(path.join(yamlDir, 'sources/orders.ts'));
    expect(fromConfig[1].source).toBe(path.join(configDir, 'sources/orders.ts'));
    expect(fromConfig.map((p) => ({ ...p, source: p.source && path.relative(configDir, p.source) }))).toEqual(
      fromYaml.map((p) => ({ ...p, source: p.source && path.relative(yamlDir, p.source) })),
    );
    expect(fromConfig.map(ingestOptionsOf)).toEqual(fromYaml.map(ingestOptionsOf));
  });

  test('kto\'s own project: voltage-daily in kto.pipelines.yaml, random-users in kto.config.ts with a url (the built-in random-user source)', () => {
    const loaded = loadPipelines({}, root);
    expect(loaded.configFile).toBe(path.join(root, 'kto.config.ts'));
    expect(loaded.batch.map((p) => p.name)).toEqual(['voltage-daily']);
    expect(loaded.sourceOf).toEqual({ 'voltage-daily': path.join(root, 'kto.pipelines.yaml'), 'random-users': path.join(root, 'kto.config.ts') });
    const [users] = loaded.ingest;
    expect(users).toMatchObject({ name: 'random-users', url: 'http://127.0.0.1:8099/api/?results=5', topic: 'kto.demo.users', schedule: { cron: '* * * * *', enabled: false } });
    // The workflow input carries the url, so any worker (one without this project, the image's) can run it.
    expect(ingestOptionsOf(users)).toEqual({
      pipeline: 'random-users',
      url: 'http://127.0.0.1:8099/api/?results=5',
      topic: 'kto.demo.users',
      intervalMs: 1000,
      windowMs: 15000,
    });
    expect(desiredSchedule(users, 'kto')).toMatchObject({ scheduleId: 'kto-ingest-random-users', action: { workflowType: 'ingest' }, state: { paused: true } });
  });

  test('a project\'s source module resolves from its kto.config.ts', () => {
    const fixture = path.join(__dirname, '../fixtures/ingest-source');
    const loaded = loadPipelines({ KTO_CONFIG: path.join(fixture, 'kto.config.ts') }, os.tmpdir());
    expect(loaded.ingest.map((p) => [p.name, p.source])).toEqual([['meter-readings', path.join(fixture, 'sources/meter-readings.ts')]]);
  });
});

describe('desired schedule', () => {
  test('maps the pipeline schedule onto Temporal: cron, SKIP, minimal catch-up, run timeout, paused when disabled', () => {
    const [p] = parsePipelines({ batch: [{ ...minimal, schedule: { enabled: false } }] }).batch;
    const s = desiredSchedule(p, 'kto');
    expect(s.scheduleId).toBe('kto-batch-p1');
    expect(s.spec).toEqual({ cronExpressions: ['@daily'] });
    expect(s.policies).toEqual({ overlap: 'SKIP', catchupWindow: NO_CATCHUP_WINDOW });
    expect(s.action).toMatchObject({ workflowType: 'batch', workflowId: 'kto-batch-p1', taskQueue: 'kto', workflowRunTimeout: '60m' });
    expect(s.state?.paused).toBe(true);
  });

  test('its change marker moves when the pipeline changes and only then', () => {
    const marker = (input: object) => {
      const [p] = parsePipelines({ batch: [input] }).batch;
      return JSON.stringify(desiredSchedule(p, 'kto').action.memo);
    };
    const base = { ...minimal, schedule: {} };
    expect(marker(base)).toBe(marker({ ...base }));
    expect(marker({ ...base, schedule: { cron: '@hourly' } })).not.toBe(marker(base));
    expect(marker({ ...base, schedule: { enabled: false } })).not.toBe(marker(base));
    expect(marker({ ...base, topic: 'other' })).not.toBe(marker(base));
  });
});
