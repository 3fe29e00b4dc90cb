import { ApplicationFailure } from '@temporalio/common';
import { toTemporalFailure, withFailures } from '../../activities/failures';
import { KtoError } from '../../src/runtime/errors';
import { TopicNotFoundError } from '../../src/kafka';
import { serializeError } from '../../src/steps/runner';

describe('kto errors become Temporal failures in one place', () => {
  test('a KtoError fails with its type, retried only when it says so; other errors are left to the retry policy', () => {
    expect(toTemporalFailure(new TopicNotFoundError('in'))).toMatchObject({ type: 'TopicNotFound', nonRetryable: true, message: expect.stringMatching(/^Kafka topic "in" does not exist/) });
    expect(toTemporalFailure(new KtoError('busy', { type: 'Busy', retryable: true }))).toMatchObject({ type: 'Busy', nonRetryable: false });
    const plain = new Error('ECONNRESET');
    expect(toTemporalFailure(plain)).toBe(plain);
  });

  test('a KtoError of another copy of kto (same shape, other class) counts too', () => {
    const foreign = Object.assign(new Error('rejected'), { type: 'SourceRejected', retryable: false });
    expect(toTemporalFailure(foreign)).toBeInstanceOf(ApplicationFailure);
  });

  test('activities wrapped by withFailures throw the failure; a step thread\'s KtoError keeps its type across the boundary', async () => {
    const { fail } = withFailures({ fail: async () => Promise.reject(new KtoError('bad module', { type: 'InvalidProcessor' })) });
    await expect(fail()).rejects.toMatchObject({ type: 'InvalidProcessor', nonRetryable: true });
    expect(serializeError(new KtoError('bad module', { type: 'InvalidProcessor' }))).toMatchObject({ type: 'InvalidProcessor', retryable: false });
  });
});
