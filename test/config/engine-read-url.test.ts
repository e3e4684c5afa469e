import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../../src/config/load-config.js';
import { DEFAULT_ENGINE_CONFIG } from '../../src/config/config.js';
import { openEngine } from '../../src/engine/open-engine.js';

const PRIMARY = 'postgresql://kinesql:pw@db:5432/kinesql';
const STANDBY = 'postgresql://kinesql:pw@db-standby:5432/kinesql';

describe('kinesql.engine-read-url', () => {
  it('is read from the flag, the environment and the file, with its wait limit', () => {
    const fromFlags = loadConfig({ env: {}, flags: { engineUrl: PRIMARY, engineReadUrl: STANDBY } });
    expect(fromFlags.engine).toMatchObject({ url: PRIMARY, readUrl: STANDBY });
    expect(fromFlags.engine.readMaxWaitMs).toBeUndefined();
    const fromEnv = loadConfig({ env: { KINESQL_ENGINE_URL: PRIMARY, KINESQL_ENGINE_READ_URL: STANDBY } });
    expect(fromEnv.engine).toMatchObject({ url: PRIMARY, readUrl: STANDBY });
  });

  it('is refused without an external engine, naming the key', () => {
    let error: unknown;
    try {
      loadConfig({ env: { KINESQL_ENGINE_READ_URL: STANDBY } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).key).toBe('kinesql.engine-read-url');
    expect((error as ConfigError).message).toContain('kinesql.engine-url');
  });

  it('is refused by openEngine too when the configuration is built in code', async () => {
    await expect(openEngine({ ...DEFAULT_ENGINE_CONFIG, readUrl: STANDBY }, undefined, pino({ level: 'silent' }))).rejects.toThrow(
      /kinesql\.engine-read-url needs an external engine/,
    );
  });

  it('takes a duration for kinesql.engine-read-max-wait', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kinesql-config-')), 'kinesql.properties');
    writeFileSync(file, `kinesql.engine-url=${PRIMARY}\nkinesql.engine-read-url=${STANDBY}\nkinesql.engine-read-max-wait=2s\n`);
    expect(loadConfig({ env: {}, file }).engine).toMatchObject({ readUrl: STANDBY, readMaxWaitMs: 2_000 });
    writeFileSync(file, 'kinesql.engine-read-max-wait=soon\n');
    expect(() => loadConfig({ env: {}, file })).toThrow(/kinesql.engine-read-max-wait/);
  });
});
