import { startHarness, type Harness } from '../support/harness.js';

export const tradesDefinition = {
  tableName: 'trades',
  schemaName: 'market',
  streamName: 'trades',
  message: {
    dataFormat: 'json',
    fields: [
      { name: 'trade_id', type: 'BIGINT', mapping: 'id' },
      { name: 'symbol', type: 'VARCHAR', mapping: 'symbol' },
      { name: 'price', type: 'DECIMAL(12,4)', mapping: 'price' },
      { name: 'executed', type: 'TIMESTAMP WITH TIME ZONE', mapping: 'at', dataFormat: 'iso8601' },
      { name: 'buy', type: 'BOOLEAN', mapping: 'buy' },
      { name: 'meta', type: 'JSON', mapping: 'meta' },
    ],
  },
};

export const TRADE_COUNT = 300;

export function trade(id: number): Record<string, unknown> {
  return {
    id,
    symbol: ['AAA', 'BBB', 'CCC'][id % 3],
    price: (id * 1.5).toFixed(4),
    at: new Date(Date.UTC(2026, 0, 2, 3, 4, id % 60)).toISOString(),
    buy: id % 2 === 0,
    meta: { venue: `v${id % 4}` },
  };
}

/** A kinesql server with one stream table, market.trades, of TRADE_COUNT records. */
export async function startTradesHarness(): Promise<Harness> {
  const harness = await startHarness({ streams: [{ name: 'trades', shards: 2 }], definitions: { 'trades.json': tradesDefinition } });
  await harness.put(
    'trades',
    Array.from({ length: TRADE_COUNT }, (_, i) => trade(i + 1)),
  );
  return harness;
}
