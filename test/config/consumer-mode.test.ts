import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SCAN_CONFIG } from '../../src/config/config.js';
import { ConfigError, loadConfig } from '../../src/config/load-config.js';

const dir = mkdtempSync(join(tmpdir(), 'kinesql-consumer-mode-'));
let files = 0;
const load = (text: string) => {
  const file = join(dir, `kinesql-${files++}.properties`);
  writeFileSync(file, text);
  return loadConfig({ file, env: {} });
};

describe('kinesis.consumer-mode, kinesis.consumer-name, kinesis.consumer-deregister-on-exit', () => {
  it('polls by default and keeps consumers at exit', () => {
    // The server reads with the configured scan settings over DEFAULT_SCAN_CONFIG; a file with other scan keys keeps the defaults too.
    for (const text of ['', 'kinesis.read-budget-share=0.5\n']) {
      expect({ ...DEFAULT_SCAN_CONFIG, ...load(text).scan }, text).toMatchObject({ consumerMode: 'polling', consumerDeregisterOnExit: false });
    }
  });

  it('reads enhanced fan-out with its consumer name', () => {
    const config = load('kinesis.consumer-mode=EFO\nkinesis.consumer-name=kinesql-prod.1\nkinesis.consumer-deregister-on-exit=true\n');
    expect(config.scan).toMatchObject({ consumerMode: 'efo', consumerName: 'kinesql-prod.1', consumerDeregisterOnExit: true });
  });

  it('refuses efo without a consumer name, an unknown mode and a name Kinesis would refuse', () => {
    expect(() => load('kinesis.consumer-mode=efo\n')).toThrow(ConfigError);
    expect(() => load('kinesis.consumer-mode=push\n')).toThrow(/polling or efo/);
    expect(() => load('kinesis.consumer-name=no spaces\n')).toThrow(/consumer name/);
  });
});
