import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { DefinitionBatch } from '../../src/catalog/definition-source.js';
import { DirectorySource, type DirectorySourceOptions } from '../../src/catalog/directory-source.js';

/** Generous: the machine is shared and slow; this bounds waiting, it is not a speed assertion. */
const PATIENCE = { timeout: 15_000, interval: 25 };
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const definition = (table: string, stream = 'events') => JSON.stringify({ tableName: table, streamName: stream });

// The tests run at the same time (each waits mostly on file-system events in its own directory), so the sources
// and directories are cleaned up once, after the last of them.
const sources: DirectorySource[] = [];
const directories: string[] = [];
afterAll(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
  for (const dir of directories.splice(0)) {
    for (const path of [dir, `${dir}-away`, `${dir}-old`]) rmSync(path, { recursive: true, force: true });
  }
});

async function started(dir: string, options: Partial<DirectorySourceOptions> = {}) {
  // A short debounce: each test waits for the batches it expects (the rename test, about batching, sets its own).
  const source = new DirectorySource(dir, { debounceMs: 20, settleMs: 400, rescanIntervalMs: 60_000, ...options });
  sources.push(source);
  const batches: DefinitionBatch[] = [];
  const errors: Error[] = [];
  const unavailable: Error[] = [];
  let available = 0;
  source.on('batch', (batch) => batches.push(batch));
  source.on('error', (error) => errors.push(error));
  source.on('unavailable', (error) => unavailable.push(error));
  source.on('available', () => available++);
  await source.start();
  return { source, batches, errors, unavailable, availableCount: () => available };
}

const changedNames = (batches: DefinitionBatch[]) => batches.flatMap((b) => b.changed.map((c) => c.source.slice(c.source.lastIndexOf('/') + 1)));
const removedNames = (batches: DefinitionBatch[]) => batches.flatMap((b) => b.removed.map((r) => r.slice(r.lastIndexOf('/') + 1)));

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kinesql-defs-'));
  directories.push(dir);
  return dir;
}

describe.concurrent('DirectorySource', () => {
  it('loads every *.json file directly in the directory in one batch before start() resolves', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'orders.json'), definition('orders'));
    writeFileSync(join(dir, 'Users.JSON'), definition('users'));
    writeFileSync(join(dir, '.hidden.json'), definition('hidden'));
    writeFileSync(join(dir, 'orders.json~'), definition('backup'));
    writeFileSync(join(dir, '.orders.json.swp'), 'vim swap');
    writeFileSync(join(dir, 'orders.json.tmp'), definition('tmp'));
    writeFileSync(join(dir, 'README.txt'), 'not a definition');
    mkdirSync(join(dir, 'schemas'));
    writeFileSync(join(dir, 'schemas', 'nested.json'), definition('nested'));

    const { batches } = await started(dir);
    expect(batches).toHaveLength(1);
    expect(changedNames(batches).sort()).toEqual(['Users.JSON', 'orders.json']);
    const orders = batches[0]?.changed.find((c) => c.source === join(dir, 'orders.json'));
    expect(orders?.text).toBe(definition('orders'));
    expect(orders?.version).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('reports added, changed and deleted files', async () => {
    const dir = tempDir();
    const { batches } = await started(dir);
    expect(batches).toEqual([]);

    writeFileSync(join(dir, 'a.json'), definition('a'));
    await vi.waitFor(() => expect(changedNames(batches)).toEqual(['a.json']), PATIENCE);

    writeFileSync(join(dir, 'a.json'), definition('a', 'other-stream'));
    await vi.waitFor(() => expect(changedNames(batches)).toEqual(['a.json', 'a.json']), PATIENCE);
    expect(batches.at(-1)?.changed[0]?.text).toBe(definition('a', 'other-stream'));

    rmSync(join(dir, 'a.json'));
    await vi.waitFor(() => expect(removedNames(batches)).toEqual(['a.json']), PATIENCE);
  });

  it('reports a rename as one batch removing the old name and adding the new one', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'old.json'), definition('t'));
    const { batches } = await started(dir, { debounceMs: 300 });
    renameSync(join(dir, 'old.json'), join(dir, 'new.json'));
    await vi.waitFor(() => expect(batches.length).toBeGreaterThanOrEqual(2), PATIENCE);
    const renameBatch = batches.find((b) => b.removed.length > 0);
    expect(renameBatch?.removed).toEqual([join(dir, 'old.json')]);
    expect(renameBatch?.changed.map((c) => c.source)).toEqual([join(dir, 'new.json')]);
  });

  it('ignores editors temporary and backup files', async () => {
    const dir = tempDir();
    const { batches } = await started(dir);
    writeFileSync(join(dir, '.t.json.swp'), 'swap');
    writeFileSync(join(dir, 't.json~'), definition('backup'));
    writeFileSync(join(dir, 't.json.tmp'), definition('tmp'));
    writeFileSync(join(dir, '.#t.json'), definition('lock'));
    writeFileSync(join(dir, '4913'), '');
    // a real file afterwards: once it is seen, the others would have been seen too
    writeFileSync(join(dir, 't.json'), definition('t'));
    await vi.waitFor(() => expect(changedNames(batches)).toContain('t.json'), PATIENCE);
    // and a file written after that is seen: anything else would have been seen before it
    writeFileSync(join(dir, 'sentinel.json'), definition('s'));
    await vi.waitFor(() => expect(changedNames(batches)).toContain('sentinel.json'), PATIENCE);
    expect(changedNames(batches)).toEqual(['t.json', 'sentinel.json']);
  });

  it('waits for a half-written file to become complete JSON', async () => {
    const dir = tempDir();
    // A second pass over the same broken text reports it: the debounce keeps the events of one write in one pass.
    const { batches } = await started(dir, { settleMs: 60_000, debounceMs: 100 });
    const complete = definition('t');
    writeFileSync(join(dir, 't.json'), complete.slice(0, 10));
    await pause(400);
    writeFileSync(join(dir, 't.json'), complete);
    await vi.waitFor(() => expect(changedNames(batches)).toEqual(['t.json']), PATIENCE);
    expect(batches[0]?.changed[0]?.text).toBe(complete);
  });

  it('reports a file that stays broken, so the catalog can show the error', async () => {
    const dir = tempDir();
    const { batches } = await started(dir, { settleMs: 100 });
    writeFileSync(join(dir, 't.json'), '{"tableName": ');
    await vi.waitFor(() => expect(changedNames(batches)).toEqual(['t.json']), PATIENCE);
    expect(batches[0]?.changed[0]?.text).toBe('{"tableName": ');
  });

  it('does not emit anything for a file saved again with the same content', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 't.json'), definition('t'));
    const { batches } = await started(dir);
    writeFileSync(join(dir, 't.json'), definition('t'));
    writeFileSync(join(dir, 'sentinel.json'), definition('s'));
    await vi.waitFor(() => expect(changedNames(batches)).toContain('sentinel.json'), PATIENCE);
    // a second file, written once the first was seen: a late batch for t.json would have come before it
    writeFileSync(join(dir, 'sentinel-2.json'), definition('s2'));
    await vi.waitFor(() => expect(changedNames(batches)).toContain('sentinel-2.json'), PATIENCE);
    expect(changedNames(batches)).toEqual(['t.json', 'sentinel.json', 'sentinel-2.json']);
  });

  it('finds changes the watcher missed on its periodic re-scan', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'gone.json'), definition('gone'));
    const { source, batches } = await started(dir, { rescanIntervalMs: 200 });
    // Simulate lost file-system events by closing the watcher; only the re-scan is left.
    await (source as unknown as { watcher: { close(): Promise<void> } }).watcher.close();
    rmSync(join(dir, 'gone.json'));
    writeFileSync(join(dir, 'new.json'), definition('new'));
    await vi.waitFor(() => {
      expect(removedNames(batches)).toEqual(['gone.json']);
      expect(changedNames(batches)).toEqual(['gone.json', 'new.json']);
    }, PATIENCE);
  });

  it('refuses to start on a directory that does not exist', async () => {
    const source = new DirectorySource(join(tempDir(), 'missing'), { rescanIntervalMs: 1000 });
    await expect(source.start()).rejects.toThrow(/missing cannot be read \(ENOENT\)/);
  });

  describe('when the directory cannot be listed', () => {
    // The re-scan timer is kept out of the way (60 s): passes are run with rescan(), or come from the watcher.
    // The pauses only give a wrong removal the time to show up; no assertion depends on how long anything took.

    it('keeps every file while the directory is moved away, and resumes without a batch when it is moved back', async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'a.json'), definition('a'));
      writeFileSync(join(dir, 'b.json'), definition('b'));
      const { source, batches, unavailable, availableCount } = await started(dir);

      renameSync(dir, `${dir}-away`);
      await source.rescan();
      await pause(300);
      await source.rescan();
      expect(batches).toHaveLength(1);
      expect(unavailable.map((e) => e.message)).toEqual([`cannot list table definition directory ${dir}: ENOENT: no such file or directory, scandir '${dir}'`]);

      renameSync(`${dir}-away`, dir);
      await source.rescan();
      expect(availableCount()).toBe(1);
      expect(batches).toHaveLength(1);

      // watched again (the re-scan is a minute away): new and deleted files are followed as before
      writeFileSync(join(dir, 'c.json'), definition('c'));
      await vi.waitFor(() => expect(changedNames(batches)).toEqual(['a.json', 'b.json', 'c.json']), PATIENCE);
      rmSync(join(dir, 'a.json'));
      await vi.waitFor(() => expect(removedNames(batches)).toEqual(['a.json']), PATIENCE);
      expect(unavailable).toHaveLength(1);
    });

    it('removes what really went while the directory was away, and adds what is new, once it is back', async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'a.json'), definition('a'));
      writeFileSync(join(dir, 'b.json'), definition('b'));
      const { source, batches, unavailable } = await started(dir);
      renameSync(dir, `${dir}-away`);
      await source.rescan();
      expect(unavailable).toHaveLength(1);
      rmSync(join(`${dir}-away`, 'b.json'));
      writeFileSync(join(`${dir}-away`, 'c.json'), definition('c'));
      renameSync(`${dir}-away`, dir);
      await source.rescan();
      expect(batches.slice(1).map((b) => ({ changed: b.changed.map((c) => c.source), removed: b.removed }))).toEqual([
        { changed: [join(dir, 'c.json')], removed: [join(dir, 'b.json')] },
      ]);
    });

    it('follows another directory put in place of the old one (a redeploy) without re-emitting unchanged files', async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'a.json'), definition('a'));
      const { source, batches } = await started(dir);
      renameSync(dir, `${dir}-old`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'a.json'), definition('a'));
      writeFileSync(join(dir, 'b.json'), definition('b'));
      await source.rescan();
      await vi.waitFor(() => expect(changedNames(batches)).toEqual(['a.json', 'b.json']), PATIENCE);
      // the watcher follows the new directory, not the old one
      writeFileSync(join(`${dir}-old`, 'old-only.json'), definition('old'));
      writeFileSync(join(dir, 'c.json'), definition('c'));
      await vi.waitFor(() => expect(changedNames(batches)).toEqual(['a.json', 'b.json', 'c.json']), PATIENCE);
      expect(removedNames(batches)).toEqual([]);
    });

    // Tests run as root here, and root reads a directory whatever its mode, so chmod 000 cannot make readdir fail
    // with EACCES. A regular file put in the directory's place fails the same listing (ENOTDIR) and runs the same
    // code (any listing error is handled alike), so it stands in for permissions without mocking the file system;
    // the chmod test below runs as well wherever the user is not root.
    it('keeps every file while a regular file stands where the directory was', async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'a.json'), definition('a'));
      const { source, batches, unavailable, availableCount } = await started(dir);
      renameSync(dir, `${dir}-away`);
      writeFileSync(dir, 'not a directory');
      await source.rescan();
      await pause(300);
      await source.rescan();
      expect(batches).toHaveLength(1);
      expect(unavailable.map((e) => e.message)).toEqual([`cannot list table definition directory ${dir}: ENOTDIR: not a directory, scandir '${dir}'`]);
      rmSync(dir);
      renameSync(`${dir}-away`, dir);
      await source.rescan();
      expect(availableCount()).toBe(1);
      expect(batches).toHaveLength(1);
    });

    it.skipIf(process.getuid?.() === 0)('keeps every file while the directory cannot be read (chmod 000)', async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'a.json'), definition('a'));
      const { source, batches, unavailable, availableCount } = await started(dir);
      chmodSync(dir, 0o000);
      try {
        await source.rescan();
        expect(unavailable.map((e) => e.message)).toEqual([`cannot list table definition directory ${dir}: EACCES: permission denied, scandir '${dir}'`]);
      } finally {
        chmodSync(dir, 0o700);
      }
      await source.rescan();
      expect(availableCount()).toBe(1);
      expect(batches).toHaveLength(1);
    });

    it('reports a new error once, not on every pass', async () => {
      const dir = tempDir();
      const { source, unavailable } = await started(dir);
      rmSync(dir, { recursive: true });
      await source.rescan();
      await source.rescan();
      writeFileSync(dir, 'now a file');
      await source.rescan();
      await source.rescan();
      expect(unavailable.map((e) => (e.message.match(/ (E[A-Z]+):/) ?? [])[1])).toEqual(['ENOENT', 'ENOTDIR']);
    });
  });

  it('keeps a file it cannot read at its last version, reports it once, and clears that when it is readable', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.json'), definition('a'));
    const { source, batches } = await started(dir);
    // a symlink into a volume that is not there: listed, but not readable
    rmSync(join(dir, 'a.json'));
    symlinkSync(join(dir, 'unmounted', 'a.json'), join(dir, 'a.json'));
    await source.rescan();
    await source.rescan();
    await vi.waitFor(() => expect(batches.flatMap((b) => b.unreadable ?? [])).toHaveLength(1), PATIENCE);
    expect(batches.flatMap((b) => b.unreadable ?? [])[0]).toEqual({
      source: join(dir, 'a.json'),
      error: expect.stringMatching(new RegExp(`^cannot read table definition file ${join(dir, 'a.json')}: ENOENT`)),
    });
    expect(removedNames(batches)).toEqual([]);
    expect(changedNames(batches)).toEqual(['a.json']);

    rmSync(join(dir, 'a.json'));
    writeFileSync(join(dir, 'a.json'), definition('a'));
    await vi.waitFor(() => expect(changedNames(batches)).toEqual(['a.json', 'a.json']), PATIENCE);
    expect(removedNames(batches)).toEqual([]);
  });
});
