/**
 * `kafka-temporal-orchestrator/testing`: helpers for a project's own tests. `runProcessor` runs
 * a processor in memory (unit tests, no stack); `startTestStack` starts the local stack with a
 * worker and dispatcher serving the project (integration tests; `KTO_TEST_STACK=external` uses a
 * running stack instead). Reference: docs/api.md in kto's repository.
 */
export { runProcessor, type RunProcessorOptions, type RunProcessorResult } from './run-processor';
export { startTestStack, type ReadRecord, type TestRecord, type TestStack, type TestStackOptions } from './stack';
