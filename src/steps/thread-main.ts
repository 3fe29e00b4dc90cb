import { parentPort, workerData } from 'node:worker_threads';
import { createKafkaIo } from '../kafka';
import { createLogger } from '../runtime/logger';
import { serializeError, type StepReply, type StepRequest, type StepThreadData } from './runner';
import { createStepTasks } from './tasks';

/** A step thread: runs the steps the runner posts (one at a time), on a Kafka client of its own. */
const port = parentPort!;
const { kafkaConfig, logLevel } = workerData as StepThreadData;
const tasks = createStepTasks(createKafkaIo(kafkaConfig, createLogger({ level: logLevel })));
const reply = (message: StepReply) => port.postMessage(message);

port.on('message', ({ id, step, input }: StepRequest) => {
  tasks[step](input as never, (progress) => reply({ id, progress })).then(
    (result) => reply({ id, result }),
    (err: unknown) => reply({ id, error: serializeError(err) }),
  );
});
