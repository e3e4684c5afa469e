/**
 * The statement log (kinesql.log-min-duration-statement, as PostgreSQL's log_min_duration_statement): one
 * line per statement turn that took at least the threshold, with who ran it, how long it took, what came
 * of it and its text, cut to a length a log line can carry.
 */
import type { Logger } from 'pino';
import type { FinishedStatement, SessionMetrics } from './turns.js';
import { turnExcerpt } from './turn-text.js';

/** Longest statement text a log line carries; the rest is counted, not printed. */
const MAX_TEXT_CHARS = 2_000;

export class StatementLog implements SessionMetrics {
  /**
   * @param minDurationMs statements that took at least this long are logged; 0 logs all, a negative value none.
   * @param next where the figures go as well (the /metrics registry), if anywhere.
   */
  constructor(
    private readonly minDurationMs: number,
    private readonly logger: Logger,
    private readonly next?: SessionMetrics,
  ) {}

  statementFinished(outcome: 'ok' | 'error' | 'refused', seconds: number, statement?: FinishedStatement): void {
    this.next?.statementFinished(outcome, seconds, statement);
    const ms = seconds * 1000;
    if (this.minDurationMs < 0 || ms < this.minDurationMs || statement === undefined) return;
    this.logger.info(
      {
        user: statement.user,
        ms: Math.round(ms * 10) / 10,
        outcome,
        ...(statement.sqlstate !== undefined ? { sqlstate: statement.sqlstate } : {}),
        ...(statement.rows !== undefined ? { rows: statement.rows } : {}),
        statement: turnExcerpt(statement.text, MAX_TEXT_CHARS),
      },
      'statement',
    );
  }

  replayWaitFinished(seconds: number): void {
    this.next?.replayWaitFinished(seconds);
  }
}
