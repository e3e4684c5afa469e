/**
 * The embedded engine's first run on a machine: what an installer would otherwise set up, done once and found
 * in place on later runs. The shared-library symlinks of the PostgreSQL binaries package (its own install
 * script would make them, but npm 11 does not run it) and, when kinesql runs as root, the `postgres` system
 * account the server runs as (PostgreSQL refuses to run as root). Each logs what it made.
 */
import { execFile } from 'node:child_process';
import { readFile, symlink } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { errorCode, exists } from './file-probes.js';

const run = promisify(execFile);

/** Creates the `postgres` system group and user; one that exists already (another process made it) is fine. */
export async function createPostgresAccount(logger?: Logger): Promise<void> {
  try {
    await run('groupadd', ['--force', '--system', 'postgres']);
    await run('useradd', ['--system', '--gid', 'postgres', '--no-create-home', 'postgres']);
    logger?.info({ user: 'postgres' }, 'first run: created the system user the embedded engine runs as');
  } catch (error) {
    // Another process may have created it meanwhile; the caller's lookup decides.
    logger?.debug({ err: error }, 'could not create the postgres system user');
  }
}

interface LinkEntry {
  source: string;
  target: string;
}

/**
 * Makes the shared-library symlinks the binaries package's own install script would have made (npm 11 does not
 * run it), once; later runs find them there.
 */
export async function createMissingLibraryLinks(root: string, binariesPackage: string, logger?: Logger): Promise<void> {
  let entries: LinkEntry[];
  try {
    entries = JSON.parse(await readFile(join(root, 'native', 'pg-symlinks.json'), 'utf8')) as LinkEntry[];
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return;
    throw error;
  }
  const missing: LinkEntry[] = [];
  for (const entry of entries) {
    if (!(await exists(join(root, entry.target)))) missing.push(entry);
  }
  for (const entry of missing) {
    const link = join(root, entry.target);
    try {
      await symlink(relative(dirname(link), join(root, entry.source)), link);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'EEXIST') continue;
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        throw new Error(
          `${binariesPackage} (${root}) lacks ${missing.length} shared-library symlinks listed in native/pg-symlinks.json and its directory is not writable ` +
            `(${code}); run "node scripts/hydrate-symlinks.js" in that directory as its owner`,
          { cause: error },
        );
      }
      throw error;
    }
  }
  if (missing.length > 0) logger?.info({ package: binariesPackage, links: missing.length }, 'first run: made the shared-library links of the embedded engine');
}
