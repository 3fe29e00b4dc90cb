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
