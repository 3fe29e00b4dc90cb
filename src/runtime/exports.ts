/** Inspecting what a project's module exports, for the processor and source loaders' errors. */

export function hasOwn(value: unknown, name: string): value is Record<string, unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && Object.hasOwn(value, name);
}

/** A short description of an export for an error message, e.g. `an object with keys a, b`. */
export function describeExport(value: unknown): string {
  if (value === undefined) return 'nothing (undefined: is there an `export default`?)';
  if (value === null) return 'null';
  if (typeof value === 'function') return `a function${value.name ? ` "${value.name}"` : ''}`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value !== 'object') return `a ${typeof value} (${String(value).slice(0, 40)})`;
  const keys = Object.keys(value);
  return keys.length === 0 ? 'an empty object' : `an object with keys ${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', …' : ''}`;
}
