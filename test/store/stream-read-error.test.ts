import { describe, expect, it } from 'vitest';
import { PgError } from '../../src/pg/pg-error.js';
import { StreamReadError } from '../../src/store/stream-read-error.js';

describe('what a client is told when a stream read fails', () => {
  it("says kinesql is shutting down (57P01) when the read was ended by kinesql's own shutdown, not a Kinesis failure", () => {
    const told = StreamReadError.from(new PgError('terminating connection because kinesql is shutting down', '57P01'), 'orders');
    expect(told).toMatchObject({ sqlstate: '57P01', message: 'terminating connection because kinesql is shutting down' });
  });

  it('names the stream and gives the SQLSTATE of a foreign-data source for a Kinesis failure', () => {
    const missing = Object.assign(new Error('Stream orders not found'), { name: 'ResourceNotFoundException' });
    expect(StreamReadError.from(missing, 'orders')).toMatchObject({ sqlstate: 'HV00R', message: expect.stringContaining('Kinesis stream "orders"') });
    expect(StreamReadError.from(new Error('something odd'), 'orders')).toMatchObject({ sqlstate: 'HV000' });
  });
});
