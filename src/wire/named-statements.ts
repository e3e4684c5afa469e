/**
 * A session's prepared statements and portals by name, as kinesql keeps them beside its backend's own: the
 * stream tables each statement reads, what it sets, the prepared statements it runs or changes, and its text for
 * the statement log. Protocol Parse and SQL PREPARE share one namespace, as in PostgreSQL (a Bind may run a
 * statement PREPAREd in SQL, an EXECUTE one made by a Parse).
 */
import type { SettingChange } from '../sql/setting-changes.js';
import { NO_PREPARED_CHANGES, type PreparedPlan, type RelationRead, type StatementPlan } from '../sql/statement-plan.js';
import type { TextCodec } from '../pg/client-encoding.js';
import { readBind, readParse, type ReadParse, type TargetMessage } from './extended-messages.js';
import type { FrontendMessage } from './frontend-reader.js';
import type { ClientSql, TurnText } from './turn-text.js';

/** A prepared statement (protocol Parse or SQL PREPARE): the stream tables it reads, what it sets, the prepared statements it runs or changes. */
interface PreparedStatement {
  /** What it reads, each with the bounds its statement puts on the scan (those of the PREPARE's query for SQL PREPARE). */
  relations: RelationRead[];
  changes: readonly SettingChange[];
  executes: readonly string[];
  prepared: PreparedPlan;
}

export class NamedStatements {
  /** The SQL of each prepared statement by name, for the statement log of a later Execute. */
  private readonly texts = new Map<string, string | ClientSql>();
  private readonly statements = new Map<string, PreparedStatement>();
  /** The prepared statement each portal was bound to. */
  private readonly portals = new Map<string, string>();

  /**
   * The SQL a batch runs, for the statement log: its Parse texts (each Parse read into `read`, and its text
   * kept by name), or the texts of the statements its Binds run (malformed messages are the batch's own error to
   * report).
   */
  textOfBatch(batch: readonly FrontendMessage[], read: Map<FrontendMessage, ReadParse>, codec: TextCodec): TurnText {
    const texts: (string | ClientSql)[] = [];
    for (const message of batch) {
      if (message.type === 'P') {
        const parse = wellFormed(() => readParse(message.body, codec));
        if (!parse) continue;
        read.set(message, parse);
        const kept = parse.sql.kept();
        this.texts.set(parse.name, kept);
        texts.push(kept);
      } else if (message.type === 'B') {
        const name = wellFormed(() => readBind(message.body))?.statement;
        if (name === undefined) continue;
        const known = this.texts.get(name);
        if (!known || !texts.includes(known)) texts.push(known ?? `EXECUTE ${name === '' ? '(unnamed statement)' : name}`);
      }
    }
    return texts;
  }

  /** A Parse: the statement as analysed (Parse reads no rows; the catch-up comes with the Bind that runs it). */
  parsed(name: string, plan: StatementPlan): void {
    const { relations, prepared } = plan;
    this.statements.set(name, { relations, changes: plan.text.settingChanges, executes: prepared.executes, prepared });
  }

  /** A Bind: the stream tables running the statement reads (its own, and those of the statements it EXECUTEs). */
  bound(portal: string, statement: string): RelationRead[] {
    const found = this.statements.get(statement);
    this.portals.set(portal, statement);
    return [...(found?.relations ?? []), ...this.executedRelations(found?.executes ?? [])];
  }

  /** An Execute: what the portal's statement sets; the prepared statements it PREPAREs or DEALLOCATEs change. */
  executed(portal: string): readonly SettingChange[] {
    const bound = this.portals.get(portal);
    const statement = bound === undefined ? undefined : this.statements.get(bound);
    if (statement) this.applySql(statement.prepared);
    return statement?.changes ?? [];
  }

  /** A Close of a statement or a portal. */
  closed(target: TargetMessage): void {
    if (target.kind === 'S') this.statements.delete(target.name);
    else this.portals.delete(target.name);
  }

  /** The stream tables the prepared statements an EXECUTE names read. */
  executedRelations(names: readonly string[]): RelationRead[] {
    return names.flatMap((name) => this.statements.get(name)?.relations ?? []);
  }

  /** SQL PREPARE, DEALLOCATE and DISCARD ALL change the namespace protocol Parse uses too. */
  applySql(changes: PreparedPlan): void {
    for (const [name, relations] of changes.prepares) this.statements.set(name, { relations, changes: [], executes: [], prepared: NO_PREPARED_CHANGES });
    for (const name of changes.deallocates) this.statements.delete(name);
    if (changes.deallocateAll || changes.discardAll) this.statements.clear();
    if (changes.discardAll) this.portals.clear();
  }
}

/** A Parse or Bind message as read, or undefined when it is malformed: it is refused where the batch is checked. */
function wellFormed<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}
