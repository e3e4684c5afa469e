import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

const definition = {
  tableName: 'Users',
  streamName: 'users',
  message: {
    dataFormat: 'json',
    fields: [
      { name: 'id', type: 'BIGINT', mapping: 'id' },
      { name: 'email', type: 'VARCHAR', mapping: 'email', hidden: 'true', comment: 'personal data' },
      { name: 'country', type: 'VARCHAR(2)', mapping: 'country', hidden: 'false' },
    ],
  },
};

describe("hidden columns (the Trino connector's `hidden` and kinesis.hide-internal-columns)", () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'users', shards: 1 }],
      definitions: { 'users.json': definition },
      configure: (config) => ({ ...config, catalog: { ...config.catalog, hideInternalColumns: true } }),
    });
    await harness.put('users', [{ id: 1, email: 'a@example.com', country: 'DE' }]);
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('leaves them out of SELECT * (simple and extended protocol) but answers when they are named', async () => {
    const client = await harness.connect();
    try {
      const simple = await client.query('select * from users');
      expect(simple.fields.map((field) => field.name)).toEqual(['id', 'country']);
      expect(simple.rows).toEqual([{ id: '1', country: 'DE' }]);
      const extended = await client.query({ text: 'select u.* from users u where id = $1', values: [1] });
      expect(extended.fields.map((field) => field.name)).toEqual(['id', 'country']);
      const named = await client.query('select email, _partition_key is not null as keyed, _message_valid from users');
      expect(named.rows).toEqual([{ email: 'a@example.com', keyed: true, _message_valid: true }]);
      const comment = await client.query(`select col_description('users'::regclass, 2) as c`);
      expect(comment.rows[0].c).toBe('hidden: not in SELECT *; personal data');
    } finally {
      await client.end();
    }
  });
});
