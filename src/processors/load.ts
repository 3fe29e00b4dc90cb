import { loadModule } from '../runtime/load-module';
import { resolveProcessorExport, type BatchProcessor } from './define';

/** The error name of a processor module that does not load or export a processor: retrying cannot help. */
export const PROCESSOR_MODULE_ERROR = 'ProcessorModuleError';

const loaded = new Map<string, BatchProcessor>();

/** The processor a project's module exports, loaded once per thread. */
export function loadProcessor(file: string, options?: unknown): BatchProcessor {
  let processor = loaded.get(file);
  if (processor === undefined) {
    try {
      processor = resolveProcessorExport(loadModule(file), options);
    } catch (err) {
      throw Object.assign(new Error(`processor module ${file}: ${(err as Error).message}`), { name: PROCESSOR_MODULE_ERROR });
    }
    loaded.set(file, processor);
  }
  return processor;
}
