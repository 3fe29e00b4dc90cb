/**
 * Loads a project's own modules (its `kto.config.ts`, its processors) by path. TypeScript
 * files go through tsx's loader, registered on first use, so a project needs no build step
 * for them; JavaScript files load as they are.
 */
let tsxRegistered = false;

export function loadModule(file: string): unknown {
  if (/\.[cm]?tsx?$/.test(file) && !tsxRegistered && require.extensions['.ts'] === undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require('tsx/cjs/api') as { register: () => unknown }).register();
    tsxRegistered = true;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file);
}

/** The module's default export (ES or CommonJS form). */
export function defaultExport(mod: unknown): unknown {
  return mod !== null && typeof mod === 'object' && 'default' in mod ? (mod as { default: unknown }).default : mod;
}
