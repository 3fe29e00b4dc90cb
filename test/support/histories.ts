import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';

/**
 * Workflow histories kept as test fixtures: `<workflow type>[.<case>].json` in
 * test/fixtures/histories/, each a History message as protobufjs writes it to JSON (enums by
 * name, 64-bit numbers as strings, bytes in base64). Not the JSON of `temporal workflow show`:
 * the SDK's reader for that (`historyFromJSON`) fails with this install's two protobufjs copies.
 */
export const HISTORIES_DIR = path.resolve(__dirname, '../fixtures/histories');

const { History } = temporal.api.history.v1;

export function writeHistory(name: string, history: temporal.api.history.v1.IHistory): void {
  mkdirSync(HISTORIES_DIR, { recursive: true });
  const json = History.toObject(History.fromObject(history), { longs: String, enums: String, bytes: String });
  writeFileSync(path.join(HISTORIES_DIR, `${name}.json`), `${JSON.stringify(json, null, 1)}\n`);
}

/** Every stored history by file name, sorted. */
export function readHistories(): { file: string; history: temporal.api.history.v1.History }[] {
  return readdirSync(HISTORIES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, history: History.fromObject(JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8'))) }));
}
