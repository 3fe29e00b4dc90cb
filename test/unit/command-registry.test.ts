import { z } from 'zod';
import { builtInCommands, commandWorkflowId, createCommandRegistry, defineCommand, isRejection, type ResolvedCommand } from '../../src/commands/registry';

const source = { topic: 'kto.commands', partition: 2, offset: 41n };
const registry = createCommandRegistry({ taskQueue: 'kto', commands: builtInCommands({ operatorEmail: 'oncall@example.com' }) });

function resolved(r: ReturnType<typeof registry.resolveCommand>): ResolvedCommand {
  if (isRejection(r)) throw new Error(`rejected: ${r.reason}: ${r.detail}`);
  return r;
}

describe('command registry', () => {
  it('maps app.send_email_alert to the sendEmailAlert workflow on the default queue', () => {
    const r = resolved(registry.resolveCommand({ command: 'app.send_email_alert', params: { email: 'ops@example.com', subject: 'disk full' } }, source));
    expect(r).toMatchObject({ command: 'app.send_email_alert', workflowType: 'sendEmailAlert', taskQueue: 'kto', workflowId: 'app.send_email_alert:kto.commands-2-41' });
    expect(r.args).toEqual([{ to: 'ops@example.com', subject: 'disk full', body: undefined, failureAlertTo: 'oncall@example.com', retry: undefined }]);
  });

  it('accepts the alias send-email-alert and the seed params format (a JSON string)', () => {
    const r = resolved(registry.resolveCommand({ command: 'send-email-alert', params: '{"email": "test@email.com"}' }, source));
    expect(r.command).toBe('app.send_email_alert');
    expect(r.args[0]).toMatchObject({ to: 'test@email.com' });
  });

  it('puts the idempotency key after the canonical command name in the workflow id, so a key cannot name another workflow', () => {
    const r = resolved(registry.resolveCommand({ command: 'app.send_email_alert', params: { email: 'a@example.com' }, idempotencyKey: 'alert-7' }, source));
    expect(r.workflowId).toBe('app.send_email_alert:alert-7');
    expect(r.workflowId).toBe(commandWorkflowId('app.send_email_alert', 'alert-7'));
    const alias = resolved(registry.resolveCommand({ command: 'send-email-alert', params: { email: 'a@example.com' }, idempotencyKey: 'alert-7' }, source));
    expect(alias.workflowId).toBe(r.workflowId);
    const squat = resolved(registry.resolveCommand({ command: 'app.send_email_alert', params: { email: 'a@example.com' }, idempotencyKey: 'kto-batch-voltage-daily' }, source));
    expect(squat.workflowId).toBe('app.send_email_alert:kto-batch-voltage-daily');
  });

  it('marks a batched command with its batching, maxWait in ms, and refuses settings out of range', () => {
    const r = resolved(registry.resolveCommand({ command: 'send-email-digest', params: { email: 'ops@example.com', subject: 'disk' }, idempotencyKey: 'd-1' }, source));
    expect(r).toMatchObject({ command: 'app.send_email_digest', workflowType: 'sendEmailDigest', batch: { maxSize: 100, maxWaitMs: 2_000, by: 'key' }, idempotencyKey: 'd-1' });
    const params = z.object({}).strict();
    const make = (batch: object) => () => createCommandRegistry({ taskQueue: 'kto', commands: [defineCommand({ name: 'app.b', workflow: 'b', params, batch: batch as never })] });
    expect(make({ maxSize: 10, maxWait: 500, by: 'command' })).not.toThrow();
    expect(make({ maxSize: 0, maxWait: '2s', by: 'key' })).toThrow(/"app.b" has an invalid batch: maxSize must be a whole number from 1 to 1000/);
    expect(make({ maxSize: 10, maxWait: '10m', by: 'key' })).toThrow(/maxWait must be a duration above 0 and at most 5 minutes/);
    expect(make({ maxSize: 10, maxWait: 'soon', by: 'key' })).toThrow(/maxWait must be a duration/);
    expect(make({ maxSize: 10, maxWait: '1s', by: 'partition' })).toThrow(/by must be 'key' or 'command'.*Fix: correct its defineCommand/);
  });

  it('rejects unknown commands, including workflow type names and the seed DAG-id trick', () => {
    for (const command of ['sendEmailAlert', 'app.batch', 'batch', 'app.partition', '']) {
      const r = registry.resolveCommand({ command, params: {} }, source);
      expect(isRejection(r) && r.reason).toBe('unknown-command');
    }
  });

  it('never lets params choose the workflow, queue or id', () => {
    const r = registry.resolveCommand(
      { command: 'app.send_email_alert', params: { email: 'a@example.com', workflowType: 'batch', taskQueue: 'evil', workflowId: 'x' } },
      source,
    );
    expect(isRejection(r) && r.reason).toBe('invalid-params');
  });

  it.each([
    [{}, /email/],
    [{ email: 'not-an-address' }, /email/],
    [{ email: 'a@example.com', subject: 'x\r\nBcc: victim@example.com' }, /single line/],
    ['{not json', /not JSON/],
    [{ event: 'app.send_email_alert', email: 'a@example.com' }, /event/],
  ])('rejects invalid params %j', (params, detail) => {
    const r = registry.resolveCommand({ command: 'app.send_email_alert', params }, source);
    expect(isRejection(r) && r.reason).toBe('invalid-params');
    expect(isRejection(r) && r.detail).toMatch(detail);
  });

  it('rejects an overlong idempotency key', () => {
    const r = registry.resolveCommand({ command: 'app.send_email_alert', params: { email: 'a@example.com' }, idempotencyKey: 'k'.repeat(300) }, source);
    expect(isRejection(r) && r.reason).toBe('invalid-params');
  });

  it('takes custom commands with their own queue, id strategy and start options', () => {
    const custom = createCommandRegistry({
      taskQueue: 'kto',
      commands: [
        defineCommand({
          name: 'app.reindex',
          workflow: async function reindex(_index: string) {},
          taskQueue: 'search',
          params: z.object({ index: z.string() }),
          toArgs: ({ index }) => [index, { full: true }],
          idOf: ({ params }) => `reindex-${params.index}`,
          startOptions: { workflowExecutionTimeout: '1h' },
        }),
      ],
    });
    const r = resolved(custom.resolveCommand({ command: 'app.reindex', params: { index: 'orders' } }, source));
    expect(r).toEqual({
      command: 'app.reindex',
      workflowType: 'reindex',
      taskQueue: 'search',
      args: ['orders', { full: true }],
      workflowId: 'app.reindex:reindex-orders',
      startOptions: { workflowExecutionTimeout: '1h' },
    });
    expect(custom.names()).toEqual(['app.reindex']);
  });

  it('refuses a name registered twice', () => {
    const dup = defineCommand({ name: 'a', workflow: 'x', params: z.object({}), aliases: ['a'] });
    expect(() => createCommandRegistry({ taskQueue: 'q', commands: [dup] })).toThrow(/registered twice/);
  });

  it('refuses a name with the separator of workflow ids', () => {
    const colon = defineCommand({ name: 'app:reindex', workflow: 'x', params: z.object({}) });
    expect(() => createCommandRegistry({ taskQueue: 'q', commands: [colon] })).toThrow(/contains ":".*Fix: rename the command, e.g. "app.reindex"/);
  });
});
