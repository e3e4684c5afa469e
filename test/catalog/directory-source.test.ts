import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DefinitionBatch } from '../../src/catalog/definition-source.js';
import { DirectorySource, type DirectorySourceOptions } from '../../src/catalog/directory-source.js';

/** Generous: the machine is shared and slow; this bounds waiting, it is not a speed assertion. */
const PATIENCE = { timeout: 15_000, interval: 25 };
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const definition = (table: string, stream = 'events') => JSON.stringify({ tableName: table, streamName: stream });

const sources: DirectorySource[] = [];
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
});

async function started(dir: string, options: Partial<DirectorySourceOptions> = {}) {
  const source = new DirectorySource(dir, { debounceMs: 100, settleMs: 400, rescanIntervalMs: 60_000, ...options });
  sources.push(source);
  const batches: DefinitionBatch[] = [];
  const errors: Error[] = [];
  source.on('batch', (batch) => batches.push(batch));
  source.on('error', (error) => errors.push(error));
  await source.start();
  return { source, batches, errors };
}

const changedNames = (batches: DefinitionBatch[]) => batches.flatMap((b) => b.changed.map((c) => c.source.slice(c.source.lastIndexOf('/') + 1)));
const removedNames = (batches: DefinitionBatch[]) => batches.flatMap((b) => b.removed.map((r) => r.slice(r.lastIndexOf('/') + 1)));

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'kinesql-defs-'));
}

describe('DirectorySource', () => {
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
    await pause(300);
    expect(changedNames(batches)).toEqual(['t.json']);
  });

  it('waits for a half-written file to become complete JSON', async () => {
    const dir = tempDir();
    const { batches } = await started(dir, { settleMs: 60_000 });
    const complete = definition('t');
    writeFileSync(join(dir, 't.json'), complete.slice(0, 10));
    await pause(400);
    writeFileSync(join(dir, 't.json'), complete);
    await vi.waitFor(() => expect(changedNames(batches)).toEqual(['t.json']), PATIENCE);
    expect(batches[0]?.changed[0]?.text).toBe(complete);
  });

  it('reports a file that stays broken, so the catalog can show the error', async () => {
    const dir = tempDir();
    const { batches } = await started(dir, { settleMs: 300 });
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
    await pause(300);
    expect(changedNames(batches)).toEqual(['t.json', 'sentinel.json']);
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
});
