/**
 * An extended-protocol batch (up to its Sync or Flush) as a plan: what its messages read (each Bind's prepared
 * statement, with the statements it EXECUTEs), what they set (each Execute's), each Parse's analysis, and the bytes
 * the backend gets for it, the client's own where no Parse's text is rewritten. Made at once unless a Parse's SQL
 * is analysed in a worker.
 */
import type { TextCodec } from '../pg/client-encoding.js';
import { PgError } from '../pg/pg-error.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import type { SettingChange } from '../sql/setting-changes.js';
import type { RelationRead, StatementPlan } from '../sql/statement-plan.js';
import { buildParse, parameterTypes, readBind, readExecute, readParse, readTarget, type ReadParse } from './extended-messages.js';
import type { FrontendMessage } from './frontend-reader.js';
import { joinedBytes } from './joined-bytes.js';
import type { ClientSql } from './turn-text.js';
import type { NamedStatements } from './named-statements.js';

export interface BatchPlan {
  readonly batch: readonly FrontendMessage[];
  readonly relations: RelationRead[];
  readonly changes: SettingChange[];
  /** Each Parse message, read, with its plan. */
  readonly parses: Map<FrontendMessage, { parse: ReadParse; plan: StatementPlan }>;
}

/** What planning a batch needs: its statements by name, and the analysis of a Parse's SQL (statement-executor.ts). */
export interface BatchPlanning {
  named: NamedStatements;
  analyze(sql: ClientSql): StatementPlan | Promise<StatementPlan>;
  codec: TextCodec;
}

/**
 * The batch's plan, its messages noted in `named` as they come (`decoded`: its Parse messages as already read). A
 * malformed message or a refused Parse throws its PgError (a Parse analysed in a worker rejects with it).
 */
export function planBatch(
  batch: readonly FrontendMessage[],
  decoded: ReadonlyMap<FrontendMessage, ReadParse>,
  planning: BatchPlanning,
): BatchPlan | Promise<BatchPlan> {
  return planFrom({ batch, relations: [], changes: [], parses: new Map() }, 0, decoded, planning);
}

function planFrom(plan: BatchPlan, from: number, decoded: ReadonlyMap<FrontendMessage, ReadParse>, planning: BatchPlanning): BatchPlan | Promise<BatchPlan> {
  const { named, codec } = planning;
  for (let index = from; index < plan.batch.length; index += 1) {
    const message = plan.batch[index]!;
    if (message.type === 'P') {
      const parse = decoded.get(message) ?? readParse(message.body, codec);
      refuseRoleParameters(parse);
      const planned = planning.analyze(parse.sql);
      if (planned instanceof Promise) {
        return planned.then((statement) => {
          parsed(plan, message, parse, statement, named);
          return planFrom(plan, index + 1, decoded, planning);
        });
      }
      parsed(plan, message, parse, planned, named);
    } else if (message.type === 'B') {
      const bind = readBind(message.body);
      plan.relations.push(...named.bound(bind.portal, bind.statement));
    } else if (message.type === 'E') {
      plan.changes.push(...named.executed(readExecute(message.body).portal));
    } else if (message.type === 'C') {
      named.closed(readTarget(message.body, 'Close'));
    }
  }
  return plan;
}

function parsed(plan: BatchPlan, message: FrontendMessage, parse: ReadParse, statement: StatementPlan, named: NamedStatements): void {
  named.parsed(parse.name, statement);
  plan.parses.set(message, { parse, plan: statement });
}

/** The bytes the backend gets for the batch: each Parse with the engine's text of its SQL (`engineSql`), the rest as the client sent them. */
export function batchBytes(plan: BatchPlan, engineSql: (statement: StatementPlan) => string | undefined, codec: TextCodec): Buffer {
  const out: Buffer[] = [];
  for (const message of plan.batch) {
    const parsed = plan.parses.get(message);
    // undefined: the client's own text, which need not even be decoded
    const query = parsed && engineSql(parsed.plan);
    const unchanged = !parsed || query === undefined || query === parsed.parse.sql.text;
    out.push(unchanged ? message.raw : buildParse({ name: parsed.parse.name, query, rest: parsed.parse.rest }, codec));
  }
  return joinedBytes(out);
}

/** regrole and regrole[]: the engine would read a parameter of either with the regrole type's own input. */
const ROLE_PARAMETER_TYPES = new Set([4096, 4097]);

/**
 * A parameter declared regrole would be read by the engine's regrole input, which knows every login of the
 * engine; kinesql checks a role given in SQL text (sql/role-probes.ts), so it asks for it there.
 */
function refuseRoleParameters(parse: ReadParse): void {
  if (!parameterTypes(parse).some((type) => ROLE_PARAMETER_TYPES.has(type))) return;
  throw new PgError('kinesql does not accept parameters declared regrole', SQLSTATE.featureNotSupported, {
    hint: 'Send the role as text and cast it in the statement: $1::regrole.',
  });
}
