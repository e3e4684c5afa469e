/**
 * `npm run bench`: every benchmark of the project, one after another (the machines have 2 cores; heavy
 * benchmarks must not overlap). Each prints its figures next to a baseline measured in the same run.
 * `npm run bench -- decode` runs only the named ones.
 */
import { runDecodeBench } from './decode.js';
import { runEngineBench } from './engine.js';
import { runFreshnessBench } from './freshness.js';
import { runLimitBench } from './limit.js';
import { runPgbenchBench } from './pgbench.js';
import { runWireBench } from './wire.js';
import { runReloadBench } from './reload.js';
import { runReplicaBench } from './replica.js';
import { runScaleBench } from './scale.js';
import { runScanBench } from './scan.js';

// The SDK's notice that releases after January 2027 need Node 22 says nothing about the locked release.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const benches: Record<string, () => Promise<void>> = {
  decode: runDecodeBench,
  engine: runEngineBench,
  freshness: runFreshnessBench,
  limit: runLimitBench,
  pgbench: runPgbenchBench,
  reload: runReloadBench,
  replica: runReplicaBench,
  scale: runScaleBench,
  scan: runScanBench,
  wire: runWireBench,
};

const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!(name in benches)) {
    process.stderr.write(`unknown benchmark "${name}"; known: ${Object.keys(benches).join(', ')}\n`);
    process.exit(2);
  }
}
for (const [name, run] of Object.entries(benches)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  process.stdout.write(`\n== ${name}\n`);
  await run();
}
