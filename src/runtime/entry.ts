import path from 'node:path';

/**
 * kto runs from `dist/` (compiled JavaScript) when installed, and from its TypeScript sources in
 * its own tests and benchmarks. A module that starts another thread or process names the
 * entry file beside itself; this picks the `.js` file next to a compiled module, and the `.ts`
 * file with tsx's loader next to a source module.
 */
export interface ScriptEntry {
  /** The file to run. */
  file: string;
  /** Node options that must come before it (`--require tsx/cjs` for a source file). */
  execArgv: string[];
}

export function scriptEntry(dir: string, name: string, caller: string): ScriptEntry {
  if (caller.endsWith('.ts')) return { file: path.join(dir, `${name}.ts`), execArgv: ['--require', require.resolve('tsx/cjs')] };
  return { file: path.join(dir, `${name}.js`), execArgv: [] };
}
