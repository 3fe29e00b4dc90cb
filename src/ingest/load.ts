import { loadModule } from '../runtime/load-module';
import { resolveSourceExport, type IngestSource } from './define';

/** The error name of a source module that does not load or export a source: retrying cannot help. */
export const SOURCE_MODULE_ERROR = 'SourceModuleError';

const loaded = new Map<string, IngestSource>();

/** The source a project's module exports, loaded once per process. */
export function loadSource(file: string): IngestSource {
  let source = loaded.get(file);
  if (source === undefined) {
    try {
      source = resolveSourceExport(loadModule(file));
    } catch (err) {
      throw Object.assign(new Error(`source module ${file}: ${(err as Error).message}`), { name: SOURCE_MODULE_ERROR });
    }
    loaded.set(file, source);
  }
  return source;
}
