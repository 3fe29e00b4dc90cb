import { runAlertEmail } from '../../activities/run-alert';
import { batchOptionsOf, parsePipelines, PipelinesFileError } from '../../src/project/pipelines-file';
import { ConfigError, loadConfig } from '../../src/runtime/config';
import { ordinal, type RunAlertInput } from '../../src/shared/run-alert';

const pipeline = { name: 'voltage', topic: 'in', outputTopic: 'out', groupId: 'g' };

function problems(input: unknown): string[] {
  try {
    parsePipelines(input, 'kto.pipelines.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(PipelinesFileError);
    return (err as PipelinesFileError).problems;
  }
  throw new Error('expected the pipelines to be refused');
}

describe('onFailure in the pipelines file', () => {
  test('a pipeline with onFailure.email hands the recipients to its runs', () => {
    const file = parsePipelines({ batch: [{ ...pipeline, onFailure: { email: ['ops@example.com', 'oncall@example.com'] } }] });
    expect(batchOptionsOf(file.batch[0]).onFailure).toEqual({ email: ['ops@example.com', 'oncall@example.com'] });
  });

  test('a recipient that is no email address is refused naming the pipeline, the field and the value', () => {
    expect(problems({ batch: [{ ...pipeline, onFailure: { email: ['ops@example.com', 'not-an-address'] } }] })).toEqual([
      'batch[0] (voltage).onFailure.email.1: onFailure.email must list email addresses; "not-an-address" is not one. Fix: correct the value',
    ]);
  });

  test('an empty list, a bare string and an unknown key are refused', () => {
    expect(problems({ batch: [{ ...pipeline, onFailure: { email: [] } }] })[0]).toContain('onFailure.email must name at least one address');
    expect(problems({ batch: [{ ...pipeline, onFailure: { email: 'ops@example.com' } }] })[0]).toContain('onFailure.email must be a list of email addresses');
    expect(problems({ batch: [{ ...pipeline, onFailure: { email: ['ops@example.com'], slack: '#ops' } }] })[0]).toContain('unknown key slack');
  });
});

describe('KTO_ALERT_EMAIL', () => {
  test('a comma-separated list is the default recipients; unset means none', () => {
    expect(loadConfig({ KTO_ALERT_EMAIL: 'ops@example.com, oncall@example.com' }).alertEmail).toEqual(['ops@example.com', 'oncall@example.com']);
    expect(loadConfig({}).alertEmail).toEqual([]);
  });

  test('a value that is no email address is refused naming the variable', () => {
    expect(() => loadConfig({ KTO_ALERT_EMAIL: 'ops@example.com,oncall' })).toThrow(ConfigError);
    expect(() => loadConfig({ KTO_ALERT_EMAIL: 'ops@example.com,oncall' })).toThrow('KTO_ALERT_EMAIL: "oncall" is not an email address');
  });
});

describe('the alert email', () => {
  const alert: RunAlertInput = {
    pipeline: 'voltage',
    workflowId: 'kto-batch-voltage',
    runId: 'r1',
    outcome: 'failed',
    error: '1 of 2 partitions failed: p1: boom',
    failedPartitions: [{ partition: 1, message: 'boom' }],
    unfinishedPartitions: [],
  };

  test('names the pipeline, the streak, the error, the failed partitions and the run', () => {
    const mail = runAlertEmail(alert, 3, 'http://ui/namespaces/default/workflows/kto-batch-voltage/r1');
    expect(mail.subject).toBe('kto: batch pipeline voltage failed (3rd failed run in a row)');
    expect(mail.text).toContain('Error: 1 of 2 partitions failed: p1: boom');
    expect(mail.text).toContain('  p1: boom');
    expect(mail.text).toContain('Run: http://ui/namespaces/default/workflows/kto-batch-voltage/r1');
  });

  test('a timed-out run lists the partitions still running', () => {
    const mail = runAlertEmail({ ...alert, outcome: 'timed-out', failedPartitions: [], unfinishedPartitions: [0, 2] }, 1);
    expect(mail.subject).toBe('kto: batch pipeline voltage timed out (1st failed run in a row)');
    expect(mail.text).toContain('Still running at the deadline: p0, p2');
  });

  test.each([
    [1, '1st'],
    [2, '2nd'],
    [3, '3rd'],
    [4, '4th'],
    [11, '11th'],
    [12, '12th'],
    [13, '13th'],
    [21, '21st'],
    [102, '102nd'],
    [111, '111th'],
  ])('ordinal(%i) is %s', (n, text) => expect(ordinal(n)).toBe(text));
});
