import { KtoError } from '../runtime/errors';
import { loadModule } from '../runtime/load-module';
import { resolveProcessorExport, type BatchProcessor } from './define';

const loaded = new Map<string, BatchProcessor>();

/** The processor a project's module exports, loaded once per thread. */
export function loadProcessor(file: string, options?: unknown): BatchProcessor {
  // A factory makes one processor per options: two pipelines may share a module.
  const key = `${file}\n${JSON.stringify(options ?? null)}`;
  let processor = loaded.get(key);
  if (processor === undefined) {
    try {
      processor = resolveProcessorExport(loadModule(file), options);
    } catch (err) {
      // The same on every attempt: retrying cannot help.
      throw new KtoError(`processor module ${file}: ${(err as Error).message}`, { type: 'InvalidProcessor' });
    }
    loaded.set(key, processor);
  }
  return processor;
}
