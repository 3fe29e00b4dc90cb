/** A value given in a test as a producer would write it: Buffers as they are, strings as UTF-8, null (or undefined) as a tombstone, anything else as JSON. */
export function producerBytes(value: unknown): Buffer | null {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return value;
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8');
}
