import { describe, expect, it } from 'vitest';
import { unreachableWorker } from '../../src/engine/citus.js';
import { isConnectionLoss } from '../../src/engine/engine-unavailable.js';

/** An error as node-postgres reports the server's ErrorResponse. */
const answered = (code: string, severity: string, message: string) => Object.assign(new Error(message), { code, severity });

describe('errors a Citus coordinator answers about a worker', () => {
  const refused = answered('08006', 'ERROR', 'connection to the remote node tester@10.0.0.7:5432 failed with the following error: Connection refused');
  const essential = answered('XX000', 'ERROR', 'failure on connection marked as essential: 10.0.0.7:5432');

  it('are not the engine connection lost: the coordinator answered', () => {
    expect(isConnectionLoss(refused)).toBe(false);
    expect(isConnectionLoss(answered('57P01', 'ERROR', 'terminating connection due to unexpected postmaster exit'))).toBe(false);
  });

  it('while the server ending the connection itself still is', () => {
    expect(isConnectionLoss(answered('57P01', 'FATAL', 'terminating connection due to administrator command'))).toBe(true);
    expect(isConnectionLoss(answered('08006', 'FATAL', 'connection failure'))).toBe(true);
    expect(isConnectionLoss(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(true);
  });

  it('are told as 08006 naming the worker', () => {
    expect(unreachableWorker(essential)).toEqual({
      sqlstate: '08006',
      message: "the engine's worker node 10.0.0.7:5432 cannot be reached (it failed during a distributed transaction)",
    });
    expect(unreachableWorker(refused)).toEqual({ sqlstate: '08006', message: refused.message });
    // A worker whose server died mid-command: libpq's words, no SQLSTATE, passed on by Citus as XX000 with its node.
    const lost = Object.assign(answered('XX000', 'ERROR', 'terminating connection due to unexpected postmaster exit'), {
      where: 'while executing command on 10.0.0.7:5432',
    });
    expect(unreachableWorker(lost)).toEqual({
      sqlstate: '08006',
      message: "the engine's worker node 10.0.0.7:5432 cannot be reached (its connection was lost: terminating connection due to unexpected postmaster exit)",
    });
    const workerBug = Object.assign(answered('XX000', 'ERROR', 'some other internal error'), { where: 'while executing command on 10.0.0.7:5432' });
    expect(unreachableWorker(workerBug)).toBeUndefined();
    // The same from a COPY: no context naming the node.
    expect(unreachableWorker(answered('XX000', 'ERROR', 'terminating connection due to unexpected postmaster exit'))).toEqual({
      sqlstate: '08006',
      message: "one of the engine's worker nodes cannot be reached (its connection was lost: terminating connection due to unexpected postmaster exit)",
    });
    expect(unreachableWorker(answered('58030', 'ERROR', 'failed to complete COPY on 10.0.0.7:5432'))).toEqual({
      sqlstate: '08006',
      message: "the engine's worker node 10.0.0.7:5432 cannot be reached (a COPY to it failed)",
    });
    expect(unreachableWorker(answered('XX000', 'ERROR', 'some other internal error'))).toBeUndefined();
    expect(unreachableWorker(answered('23505', 'ERROR', 'duplicate key value violates unique constraint'))).toBeUndefined();
  });
});
