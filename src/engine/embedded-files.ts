/**
 * The files an embedded engine needs: the user the server runs as, data directories owned by that user, and
 * the initdb template that temporary engines are copied from.
 */
import { execFile } from 'node:child_process';
import type { Dirent } from 'node:fs';
import { chmod, chown, copyFile, lchown, lstat, mkdir, readFile, readdir } from 'node:fs/promises';
import { platform, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { createPostgresAccount } from './first-run.js';
import { exists } from './file-probes.js';

export const PASSWORD_FILE = 'kinesql-admin-password';
/** Holds the template's entry count: age-based /tmp cleaners can delete part of a template that sat unused. */
export const TEMPLATE_MANIFEST = 'kinesql-template-entries';

const run = promisify(execFile);

/** The account the server runs as. */
export interface ServerUser {
  name: string;
  uid: number;
  gid: number;
  /** True when this process is root and must hand files over to `postgres`. */
  switched: boolean;
}

async function lookUpPostgresUser(): Promise<ServerUser> {
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { name: 'postgres', uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10), switched: true };
}

export async function serverUser(logger?: Logger): Promise<ServerUser> {
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  if (uid === undefined || gid === undefined) throw new Error(`the embedded PostgreSQL engine is not supported on ${platform()}`);
  if (uid !== 0) return { name: String(uid), uid, gid, switched: false };
  try {
    return await lookUpPostgresUser();
  } catch {
    await createPostgresAccount(logger);
    try {
      return await lookUpPostgresUser();
    } catch (error) {
      throw new Error('running as root, and there is no `postgres` system user to run PostgreSQL as, nor could one be created', { cause: error });
    }
  }
}

/** Hands a directory tree to the server user (only called as root). */
export async function chownTree(dir: string, user: ServerUser): Promise<void> {
  const entries = await readdir(dir, { recursive: true });
  await lchown(dir, user.uid, user.gid);
  await Promise.all(entries.map((entry) => lchown(join(dir, entry), user.uid, user.gid)));
}

/**
 * Copies the template into an empty directory and hands it to the server user; false when the template is incomplete.
 * Files are copied in parallel, which halves the time fs.cp takes for the thousand small files of a fresh cluster.
 */
export async function copyTemplate(template: string, dataDir: string, user: ServerUser): Promise<boolean> {
  const expected = Number.parseInt(await readFile(join(template, TEMPLATE_MANIFEST), 'utf8'), 10);
  const inside = (entry: Dirent): string => relative(template, join(entry.parentPath, entry.name));
  const entries = (await readdir(template, { recursive: true, withFileTypes: true })).filter((entry) => inside(entry) !== TEMPLATE_MANIFEST);
  if (entries.length !== expected) return false;
  const unexpected = entries.find((entry) => !entry.isDirectory() && !entry.isFile());
  if (unexpected !== undefined) throw new Error(`the engine template holds ${inside(unexpected)}, which is neither a file nor a directory`);
  // A parent's path is shorter than any of its children's.
  const dirs = entries
    .filter((entry) => entry.isDirectory())
    .map(inside)
    .sort((a, b) => a.length - b.length);
  const files = entries.filter((entry) => entry.isFile()).map(inside);
  for (const dir of dirs) await mkdir(join(dataDir, dir), { mode: 0o700 });
  await Promise.all(files.map((file) => copyFile(join(template, file), join(dataDir, file))));
  if (user.switched) await Promise.all([...dirs, ...files].map((path) => lchown(join(dataDir, path), user.uid, user.gid)));
  return true;
}

export async function makePrivate(dir: string, user: ServerUser): Promise<void> {
  await chmod(dir, 0o700);
  if (user.switched) await chown(dir, user.uid, user.gid);
}

/** As root, fails clearly when some parent directory would stop the server user from reaching dir. */
export async function checkReachable(dir: string, what: string, user: ServerUser): Promise<void> {
  if (!user.switched) return;
  try {
    await run('test', ['-x', dir], { uid: user.uid, gid: user.gid });
  } catch (error) {
    throw new Error(`${what} ${dir} is not reachable by the ${user.name} user (uid ${user.uid}); every parent directory must be searchable by it`, {
      cause: error,
    });
  }
}

export function templateDir(binariesVersion: string): string {
  // Named by the binaries' version (the on-disk format) and by who made it (its files are private to that account).
  return join(tmpdir(), `kinesql-engine-template-${binariesVersion}-uid${process.getuid?.() ?? 0}`);
}

async function isInitialised(dataDir: string): Promise<boolean> {
  return (await exists(join(dataDir, 'PG_VERSION'))) && (await exists(join(dataDir, PASSWORD_FILE)));
}

/** A template under a shared temporary directory is used only when nobody but the server user could have written it. */
export async function isTrustedTemplate(dir: string, user: ServerUser): Promise<boolean> {
  try {
    const info = await lstat(dir);
    return (
      info.isDirectory() && info.uid === user.uid && (info.mode & 0o077) === 0 && (await isInitialised(dir)) && (await exists(join(dir, TEMPLATE_MANIFEST)))
    );
  } catch {
    return false;
  }
}

export async function readPassword(dataDir: string): Promise<string> {
  return (await readFile(join(dataDir, PASSWORD_FILE), 'utf8')).trim();
}
