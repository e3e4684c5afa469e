import { describe, expect, it } from 'vitest';
import { loadProgressText } from '../../src/store/load-progress.js';

describe('the NOTICE a statement waiting for a load gets', () => {
  it('says the percent of the window loaded and the time left', () => {
    expect(loadProgressText({ table: 'public.demo_events', ratio: 0.43, windowMs: 86_400_000, secondsLeft: 80 })).toBe(
      'loading public.demo_events: 43.0% of the window (24 h) loaded, about 1 min 20 s left',
    );
  });

  it('says when the time left is not known yet or under a second, and names the trim horizon when there is no window', () => {
    expect(loadProgressText({ table: 'public.t', ratio: 0, windowMs: undefined, secondsLeft: undefined })).toBe(
      'loading public.t: 0.0% of the stream (from the trim horizon) loaded, time left not known yet',
    );
    expect(loadProgressText({ table: 'public.t', ratio: 0.99999, windowMs: 600_000, secondsLeft: 0.002 })).toBe(
      'loading public.t: 99.9% of the window (10 min) loaded, less than a second left',
    );
  });
});
