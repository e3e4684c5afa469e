import { execFile, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { join } from 'node:path';
import pg from 'pg';
import { cleanEnv, externalPostgresBinaries, launchPostgres, makePrivateDir, runAsUser, stopPostgres, type ExternalPostgres } from './external-postgres.js';

/** A streaming hot standby of an ExternalPostgres, on a loopback port of its own. */
export interface StandbyPostgres {
  /** The primary's URL with the standby's port: the same owner role, as a copy of the primary. */
  url: string;
  /** Superuser URL of the standby (pausing replay needs it). */
  adminUrl: string;
  port: number;
  dataDir: string;
  /** Stops the server and keeps its data directory (the standby is down). */
  shutDown(): Promise<void>;
  /** Starts it again on the same port after shutDown. */
  startUp(): Promise<void>;
  /** Pauses WAL replay (pg_wal_replay_pause) or resumes it. */
  pauseReplay(): Promise<void>;
  /** Promotes the standby to a primary (pg_promote), waiting until it accepts writes. */
  promote(): Promise<void>;
  resumeReplay(): Promise<void>;
  stop(): Promise<void>;
}

function withPort(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.port = String(port);
  return parsed.toString();
}

/**
 * A hot standby of `primary` made with `pg_basebackup -R` (it streams the primary's WAL over a replication
 * connection as the primary's superuser), run by the same system user as the primary.
 */
export async function startStandby(primary: ExternalPostgres): Promise<StandbyPostgres> {
  const binaries = externalPostgresBinaries();
  if (!binaries) throw new Error('PostgreSQL 15 server binaries are not installed (Debian package postgresql-15)');
  const owner = await runAsUser();
  const base = dirname(primary.dataDir);
  const dataDir = await makePrivateDir(base, 'kinesql-pg-standby-', owner);
  const socketDir = await makePrivateDir(base, 'kinesql-pg-standby-sock-', owner);
  const adminPassword = decodeURIComponent(new URL(primary.adminUrl).password);
  const removeDirs = async () => {
    await rm(dataDir, { recursive: true, force: true });
    await rm(socketDir, { recursive: true, force: true });
  };
  let postmaster: ChildProcess | undefined;
  const onProcessExit = () => postmaster?.kill('SIGQUIT');
  process.once('exit', onProcessExit);
  let port = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(
        join(binaries, 'pg_basebackup'),
        ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync'],
        { ...(owner ? { uid: owner.uid, gid: owner.gid } : {}), cwd: socketDir, env: { ...cleanEnv(), PGPASSWORD: adminPassword } },
        (error, stdout, stderr) => (error ? reject(new Error(`pg_basebackup failed: ${error.message}\n${stdout}${stderr}`)) : resolve()),
      );
    });
    // The primary's log came along in the copy; the standby writes its own.
    await rm(join(dataDir, 'postgres.log'), { force: true });
    ({ postmaster, port } = await launchPostgres({ binaries, dataDir, socketDir, owner, adminPassword }));
  } catch (error) {
    process.off('exit', onProcessExit);
    if (postmaster) await stopPostgres(postmaster);
    await removeDirs();
    throw error;
  }
  const adminUrl = withPort(primary.adminUrl, port);
  const asAdmin = async (sql: string): Promise<void> => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  let stopping: Promise<void> | undefined;
  return {
    url: withPort(primary.url, port),
    adminUrl,
    port,
    dataDir,
    async shutDown() {
      if (postmaster) await stopPostgres(postmaster);
      postmaster = undefined;
    },
    async startUp() {
      if (postmaster) return;
      ({ postmaster } = await launchPostgres({ binaries, dataDir, socketDir, owner, adminPassword, port }));
    },
    pauseReplay: () => asAdmin('SELECT pg_wal_replay_pause()'),
    promote: () => asAdmin('SELECT pg_promote(true, 60)'),
    resumeReplay: () => asAdmin('SELECT pg_wal_replay_resume()'),
    stop() {
      stopping ??= (async () => {
        if (postmaster) await stopPostgres(postmaster);
        postmaster = undefined;
        process.off('exit', onProcessExit);
        await removeDirs();
      })();
      return stopping;
    },
  };
}
