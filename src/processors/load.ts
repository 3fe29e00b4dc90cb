import { KtoError } from '../runtime/errors';
import { loadModule } from '../runtime/load-module';
import { resolveProcessorExport, type BatchProcessor } from './define';


const loaded = new Map<string, BatchProcessor>();

/** The processor a project's module exports, loaded once per thread. */
export function loadProcessor(file: string, options?: unknown): BatchProcessor {
  let processor = loaded.get(file);
  if (processor === undefined) {
    try {
      processor = resolveProcessorExport(loadModule(file), options);
    } catch (err) {
      // The same on every attempt: retrying cannot help.
      throw new KtoError(`processor module ${file}: ${(err as Error).message}`, { type: 'InvalidProcessor' });
    }
    loaded.set(file, processor);
  }
  return processor;
}
