import { existsSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runDispatcher } from '../../src/dispatcher/run';
import { onShutdownSignal } from '../../src/runtime/signals';
import { loadConfig } from '../../src/runtime/config';
import { createLogger } from '../../src/runtime/logger';

/**
 * A real `kto dispatcher` with one hook for fault tests: with KTO_TEST_HOLD_DIR set, every
 * command parks after its workflow start was acknowledged and before its offset may be
 * committed, writes `<dir>/held` (the workflow id) and waits for a `release` file. The test
 * kills it there with SIGKILL: the start happened, the commit did not.
 */
const dir = process.env.KTO_TEST_HOLD_DIR;
const config = loadConfig();

void runDispatcher({
  config,
  logger: createLogger({ level: config.logLevel, pretty: false }),
  stopSignal: onShutdownSignal(),
  afterStartHook: dir
    ? async ({ workflowId }) => {
        // Written whole, then renamed: the test reads it as soon as it exists.
        writeFileSync(path.join(dir, 'held.tmp'), workflowId);
        renameSync(path.join(dir, 'held.tmp'), path.join(dir, 'held'));
        while (!existsSync(path.join(dir, 'release'))) await sleep(100);
      }
    : undefined,
});
