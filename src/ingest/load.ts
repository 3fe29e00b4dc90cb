import { KtoError } from '../runtime/errors';
import { loadModule } from '../runtime/load-module';
import { resolveSourceExport, type IngestSource } from './define';

const loaded = new Map<string, IngestSource>();

/** The source a project's module exports, loaded once per process. */
export function loadSource(file: string): IngestSource {
  let source = loaded.get(file);
  if (source === undefined) {
    try {
      source = resolveSourceExport(loadModule(file));
    } catch (err) {
      // The same on every attempt: retrying cannot help.
      throw new KtoError(`source module ${file}: ${(err as Error).message}`, { type: 'InvalidSource' });
    }
    loaded.set(file, source);
  }
  return source;
}
