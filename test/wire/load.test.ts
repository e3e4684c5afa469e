import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTradesHarness } from '../clients/fixture.js';
import { runMixedLoad } from '../support/mixed-load.js';

type Harness = Awaited<ReturnType<typeof startTradesHarness>>;

describe('many clients at once', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startTradesHarness();
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('50 concurrent clients × 20 mixed queries (simple, named and parameterised) all get correct answers', async () => {
    const { failures, errors, latencies } = await runMixedLoad(harness.connection, 50, 20);
    expect(errors).toEqual([]);
    expect(failures).toBe(0);
    expect(latencies).toHaveLength(1000);
  });
});
