import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runKto } from '../support/run-cli';

/**
 * The CLI refuses bad flags with the pipeline schema's own rules before it connects to anything
 * (these run with no stack), and lists the project's pipelines. They run the built CLI (dist/).
 */
describe('kto batch run flags', () => {
  test.each([
    [['--aggregation', '{"bucket":"week"}'], /^kto: --aggregation is not valid \(at bucket\): .*"day"\|"hour"/],
    [['--aggregation', 'nope'], /^kto: --aggregation is not valid JSON/],
    [['--start-from', 'middle'], /^kto: --start-from is not valid: startFrom must be "earliest" or "latest"/],
    [['--max-concurrent-partitions', '0'], /^kto: --max-concurrent-partitions is not valid: maxConcurrentPartitions must be at least 1/],
    [['--topic', 'bad topic!'], /^kto: --topic is not valid: /],
  ])('%j is refused with the flag and the rule, no stack trace', async (flags, message) => {
    const result = await runKto(['batch', 'run', 'voltage-daily', ...flags], { KTO_KAFKA_BROKERS: '127.0.0.1:1', KTO_TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/\nfix: /);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('kto ingest run flags', () => {
  const offline = { KTO_KAFKA_BROKERS: '127.0.0.1:1', KTO_TEMPORAL_ADDRESS: '127.0.0.1:1' };
  const PASSWORD = 's3cret-pa55';

  // The CLI's error path masks any userinfo left in a message once more, as `redacted@`.
  test('a --url with user:password@ is refused before anything starts, saying why and the fix, without the password', async () => {
    const result = await runKto(['ingest', 'run', '--url', `https://reader:${PASSWORD}@users.example.com/api/?results=5`, '--topic', 'users'], offline);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^kto: --url refused: the url https:\/\/redacted@users\.example\.com\/api\/\?results=5 carries credentials \(user:password@\), which would be stored in the workflow's input in Temporal's history and shown in its UI\.\nfix: remove user:password@ from the url, set an environment variable of every kto worker to user:password \(e\.g\. USERS_API_CREDENTIALS\) and name it with --credentials-env \(e\.g\. --credentials-env USERS_API_CREDENTIALS\)\n$/,
    );
    expect(result.stdout + result.stderr).not.toContain(PASSWORD);
  });

  test('a declared pipeline whose url holds credentials is refused when the project loads, without the password', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'kto-ingest-flags-')), 'kto.pipelines.yaml');
    writeFileSync(file, `ingest:\n  - name: users\n    url: "https://reader:${PASSWORD}@users.example.com/api/"\n    topic: users\n`);
    const result = await runKto(['ingest', 'run', 'users'], { ...offline, KTO_PIPELINES_FILE: file });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/ingest\[0\] \(users\)\.url: the url https:\/\/redacted@users\.example\.com\/api\/ carries credentials .*Fix: remove user:password@ from the url, .*credentialsEnv: USERS_API_CREDENTIALS/);
    expect(result.stdout + result.stderr).not.toContain(PASSWORD);
  });

  test.each([
    [['--url', 'http://127.0.0.1:8099/api/', '--topic', 'users', '--credentials-env', 'NOT-A-NAME'], {}, /^kto: --credentials-env must be the name of an environment variable .*got "NOT-A-NAME"\.\nfix: e\.g\. --credentials-env USERS_API_CREDENTIALS/],
    [['meter-readings', '--credentials-env', 'METER_CREDENTIALS'], { KTO_CONFIG: path.join(__dirname, '../fixtures/ingest-source/kto.config.ts') }, /^kto: --credentials-env goes with a url; pipeline "meter-readings" polls a source module/],
  ])('%j is refused with the rule and the fix', async (flags, env, message) => {
    const result = await runKto(['ingest', 'run', ...flags], { ...offline, ...env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('kto pipelines', () => {
  test('lists each pipeline with its kind, schedule or upstreams, topics and the file that declares it', async () => {
    const result = await runKto(['pipelines'], { KTO_CONFIG: path.join(__dirname, '../fixtures/user-project/kto.config.ts') });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const rows = result.stdout.split('\n').filter((l) => l.startsWith('│')).map((l) => l.split('│').map((c) => c.trim()).filter(Boolean));
    expect(rows).toContainEqual(['voltage-daily', 'batch', '@daily', 'kto.demo.voltage → kto.demo.voltage.daily', 'kto.pipelines.yaml']);
    expect(rows).toContainEqual(['slowest-hour', 'batch', 'after latency-p95', 'example.latency-p95 → example.slowest-hour', 'test/fixtures/user-project/kto.config.ts']);
    expect(rows).toContainEqual(['latency-p95', 'batch', 'manual', 'example.access-log → example.latency-p95', 'test/fixtures/user-project/kto.config.ts']);
  });
});
