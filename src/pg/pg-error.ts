/**
 * An error kinesql reports to a client as PostgreSQL would: a SQLSTATE, a severity, a message, and the
 * optional detail, hint and cursor position of an ErrorResponse. Every error of kinesql's that carries a
 * SQLSTATE is one (or extends it), so the layers that answer clients write any of them the same way.
 */

/** PostgreSQL's severities (the non-localized V field). */
export type Severity = 'PANIC' | 'FATAL' | 'ERROR' | 'WARNING' | 'NOTICE' | 'DEBUG' | 'INFO' | 'LOG';

/** What an ErrorResponse or NoticeResponse of kinesql's says. */
export interface ErrorFields {
  /** ERROR unless given (NOTICE for a NoticeResponse). */
  readonly severity?: Severity;
  readonly sqlstate: string;
  readonly message: string;
  readonly detail?: string | undefined;
  readonly hint?: string | undefined;
  /** 1-based character position in the statement's text. */
  readonly position?: number | undefined;
}

export interface PgErrorOptions extends ErrorOptions {
  /** ERROR (the statement fails) unless given; FATAL for an error that ends the connection. */
  severity?: Severity;
  detail?: string | undefined;
  hint?: string | undefined;
  position?: number | undefined;
}

export class PgError extends Error implements ErrorFields {
  readonly severity: Severity;
  readonly detail: string | undefined;
  readonly hint: string | undefined;
  readonly position: number | undefined;

  constructor(
    message: string,
    readonly sqlstate: string,
    options: PgErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.severity = options.severity ?? 'ERROR';
    this.detail = options.detail;
    this.hint = options.hint;
    this.position = options.position;
  }
}
