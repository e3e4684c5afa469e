import { describe, expect, it } from 'vitest';
import type { StatusModel } from '../../src/http/status-model.js';
import { durationText, percentText, renderStatusPage } from '../../src/http/status-page.js';

const hostile = '<script>alert("x")</script>&';

function model(): StatusModel {
  return {
    generatedAt: new Date(Date.UTC(2026, 0, 1)),
    version: '1.2.3',
    ready: false,
    problems: [`engine: ${hostile}`],
    sessions: 3,
    statements: { ok: 5, error: 1, refused: 2 },
    tables: [
      {
        table: `public.${hostile}`,
        stream: hostile,
        windowMs: 86_400_000,
        rows: 1234,
        invalidRows: 0,
        bytes: 5678,
        progress: 0.4567,
        secondsLeft: 150,
        catchingUp: true,
        lagMs: undefined,
        throttles: 7,
        retries: 0,
        errors: [`could not read ${hostile}`],
        shards: [
          {
            shardId: hostile,
            state: 'open',
            rows: 1234,
            invalidRows: 0,
            progress: 0.4567,
            millisBehindLatest: 3_600_000,
            lagMs: undefined,
            calls: 9,
            throttles: 7,
            retries: 0,
            error: hostile,
          },
        ],
      },
    ],
  };
}

describe('the status page', () => {
  it('escapes every name and error it shows', () => {
    const html = renderStatusPage(model());
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('alert("x")');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;');
    // The page's own markup: no script at all, and it refreshes itself.
    expect(html).toContain('<meta http-equiv="refresh" content="5">');
  });

  it('shows the percent, time left, sessions and statement counts of the model', () => {
    const html = renderStatusPage(model());
    expect(html).toContain('<span class="percent">45.6%</span>');
    expect(html).toContain('style="width:45.67%"');
    expect(html).toContain('2 min 30 s left');
    expect(html).toContain('1 h behind');
    expect(html).toMatch(/<div class="value">3<\/div><div class="label">sessions<\/div>/);
    expect(html).toMatch(/<div class="value">2<\/div><div class="label">statements refused<\/div>/);
    expect(html).toContain('<span class="badge not-ready">not ready</span>');
  });

  it('says why a table holding rows shows nothing loaded before its first read', () => {
    const restored = model();
    const table = restored.tables[0]!;
    restored.tables = [
      { ...table, progress: 0, secondsLeft: undefined, catchingUp: false, shards: table.shards.map((shard) => ({ ...shard, calls: 0, progress: 0 })) },
    ];
    expect(renderStatusPage(restored)).toContain('not read since kinesql started');
    restored.tables = [{ ...restored.tables[0]!, catchingUp: true }];
    expect(renderStatusPage(restored)).toContain('loading; time left once the rate is known');
  });

  it('prints a percent that never rounds up to done, and durations in two units', () => {
    expect(percentText(0.99999)).toBe('99.9%');
    expect(percentText(1)).toBe('100.0%');
    expect(durationText(450)).toBe('450 ms');
    expect(durationText(600_000)).toBe('10 min');
    expect(durationText(90_061_000)).toBe('25 h 1 min');
    expect(durationText(undefined)).toBe('–');
  });
});
