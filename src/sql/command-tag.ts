/**
 * PostgreSQL's name for a statement (the command tag of utility.c's CreateCommandTag), computed from the
 * raw parse tree. Used in messages such as "cannot execute CREATE TABLE in a read-only transaction".
 */
import type { LockClauseStrength, ObjectType, TransactionStmtKind } from 'libpg-query';
import { entryOf, fieldsOf, type Node, type NodeKind } from './parse-tree.js';

const FIXED: { readonly [K in NodeKind]?: string } = {
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
  CopyStmt: 'COPY',
  TruncateStmt: 'TRUNCATE TABLE',
  VariableShowStmt: 'SHOW',
  ExplainStmt: 'EXPLAIN',
  PrepareStmt: 'PREPARE',
  ExecuteStmt: 'EXECUTE',
  DeclareCursorStmt: 'DECLARE CURSOR',
  CreateStmt: 'CREATE TABLE',
  CreateForeignTableStmt: 'CREATE FOREIGN TABLE',
  ViewStmt: 'CREATE VIEW',
  IndexStmt: 'CREATE INDEX',
  CreateSchemaStmt: 'CREATE SCHEMA',
  CreateExtensionStmt: 'CREATE EXTENSION',
  AlterExtensionStmt: 'ALTER EXTENSION',
  AlterExtensionContentsStmt: 'ALTER EXTENSION',
  CreateSeqStmt: 'CREATE SEQUENCE',
  AlterSeqStmt: 'ALTER SEQUENCE',
  CreateRoleStmt: 'CREATE ROLE',
  AlterRoleStmt: 'ALTER ROLE',
  AlterRoleSetStmt: 'ALTER ROLE',
  DropRoleStmt: 'DROP ROLE',
  CreatedbStmt: 'CREATE DATABASE',
  DropdbStmt: 'DROP DATABASE',
  AlterDatabaseStmt: 'ALTER DATABASE',
  AlterDatabaseSetStmt: 'ALTER DATABASE',
  AlterDatabaseRefreshCollStmt: 'ALTER DATABASE',
  AlterSystemStmt: 'ALTER SYSTEM',
  CreateTrigStmt: 'CREATE TRIGGER',
  CreateEventTrigStmt: 'CREATE EVENT TRIGGER',
  RuleStmt: 'CREATE RULE',
  CommentStmt: 'COMMENT',
  SecLabelStmt: 'SECURITY LABEL',
  LockStmt: 'LOCK TABLE',
  DoStmt: 'DO',
  CallStmt: 'CALL',
  NotifyStmt: 'NOTIFY',
  ListenStmt: 'LISTEN',
  UnlistenStmt: 'UNLISTEN',
  LoadStmt: 'LOAD',
  CheckPointStmt: 'CHECKPOINT',
  RefreshMatViewStmt: 'REFRESH MATERIALIZED VIEW',
  ClusterStmt: 'CLUSTER',
  ReindexStmt: 'REINDEX',
  ImportForeignSchemaStmt: 'IMPORT FOREIGN SCHEMA',
  ConstraintsSetStmt: 'SET CONSTRAINTS',
  CreatePolicyStmt: 'CREATE POLICY',
  AlterPolicyStmt: 'ALTER POLICY',
  CreateDomainStmt: 'CREATE DOMAIN',
  AlterDomainStmt: 'ALTER DOMAIN',
  CompositeTypeStmt: 'CREATE TYPE',
  CreateEnumStmt: 'CREATE TYPE',
  CreateRangeStmt: 'CREATE TYPE',
  AlterEnumStmt: 'ALTER TYPE',
  AlterTypeStmt: 'ALTER TYPE',
  CreateTableSpaceStmt: 'CREATE TABLESPACE',
  DropTableSpaceStmt: 'DROP TABLESPACE',
  CreateFdwStmt: 'CREATE FOREIGN DATA WRAPPER',
  CreateForeignServerStmt: 'CREATE SERVER',
  CreateUserMappingStmt: 'CREATE USER MAPPING',
  CreateCastStmt: 'CREATE CAST',
  CreateConversionStmt: 'CREATE CONVERSION',
  CreatePLangStmt: 'CREATE LANGUAGE',
  CreateStatsStmt: 'CREATE STATISTICS',
  CreatePublicationStmt: 'CREATE PUBLICATION',
  CreateSubscriptionStmt: 'CREATE SUBSCRIPTION',
  DropOwnedStmt: 'DROP OWNED',
  ReassignOwnedStmt: 'REASSIGN OWNED',
  AlterDefaultPrivilegesStmt: 'ALTER DEFAULT PRIVILEGES',
};

const OBJECT_NAMES: { readonly [T in ObjectType]?: string } = {
  OBJECT_MATVIEW: 'MATERIALIZED VIEW',
  OBJECT_FDW: 'FOREIGN DATA WRAPPER',
  OBJECT_FOREIGN_SERVER: 'SERVER',
  OBJECT_FOREIGN_TABLE: 'FOREIGN TABLE',
  OBJECT_TSCONFIGURATION: 'TEXT SEARCH CONFIGURATION',
  OBJECT_TSDICTIONARY: 'TEXT SEARCH DICTIONARY',
  OBJECT_TSPARSER: 'TEXT SEARCH PARSER',
  OBJECT_TSTEMPLATE: 'TEXT SEARCH TEMPLATE',
  OBJECT_OPCLASS: 'OPERATOR CLASS',
  OBJECT_OPFAMILY: 'OPERATOR FAMILY',
  OBJECT_ACCESS_METHOD: 'ACCESS METHOD',
  OBJECT_EVENT_TRIGGER: 'EVENT TRIGGER',
  OBJECT_STATISTIC_EXT: 'STATISTICS',
};

/** `OBJECT_TABLE` → `TABLE`, `OBJECT_MATVIEW` → `MATERIALIZED VIEW`. */
function objectName(objectType: ObjectType | undefined): string {
  if (objectType === undefined) return '';
  return OBJECT_NAMES[objectType] ?? objectType.replace(/^OBJECT_/, '').replace(/_/g, ' ');
}

const TRANSACTION_TAGS: Record<TransactionStmtKind, string> = {
  TRANS_STMT_BEGIN: 'BEGIN',
  TRANS_STMT_START: 'START TRANSACTION',
  TRANS_STMT_COMMIT: 'COMMIT',
  TRANS_STMT_ROLLBACK: 'ROLLBACK',
  TRANS_STMT_SAVEPOINT: 'SAVEPOINT',
  TRANS_STMT_RELEASE: 'RELEASE',
  TRANS_STMT_ROLLBACK_TO: 'ROLLBACK',
  TRANS_STMT_PREPARE: 'PREPARE TRANSACTION',
  TRANS_STMT_COMMIT_PREPARED: 'COMMIT PREPARED',
  TRANS_STMT_ROLLBACK_PREPARED: 'ROLLBACK PREPARED',
};

const LOCK_TAGS: { readonly [S in LockClauseStrength]?: string } = {
  LCS_FORUPDATE: 'SELECT FOR UPDATE',
  LCS_FORNOKEYUPDATE: 'SELECT FOR NO KEY UPDATE',
  LCS_FORSHARE: 'SELECT FOR SHARE',
  LCS_FORKEYSHARE: 'SELECT FOR KEY SHARE',
};

/** `CreateEnumStmt` → `CREATE ENUM`: the fallback for statement kinds without an entry above. */
function fromNodeName(type: string): string {
  return type
    .replace(/Stmt$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase();
}

export function commandTagOf(node: Node): string {
  const { kind, fields: f } = entryOf(node);
  switch (kind) {
    case 'SelectStmt': {
      if (f.intoClause) return 'SELECT INTO';
      const locking = fieldsOf(f.lockingClause?.[0], 'LockingClause');
      if (locking) return (locking.strength && LOCK_TAGS[locking.strength]) ?? 'SELECT FOR UPDATE';
      return 'SELECT';
    }
    case 'TransactionStmt':
      return (f.kind && TRANSACTION_TAGS[f.kind]) ?? 'BEGIN';
    case 'VariableSetStmt':
      return f.kind === 'VAR_RESET' || f.kind === 'VAR_RESET_ALL' ? 'RESET' : 'SET';
    case 'DiscardStmt':
      return `DISCARD ${(f.target ?? 'DISCARD_ALL').replace(/^DISCARD_/, '')}`;
    case 'FetchStmt':
      return f.ismove ? 'MOVE' : 'FETCH';
    case 'ClosePortalStmt':
      return f.portalname ? 'CLOSE CURSOR' : 'CLOSE CURSOR ALL';
    case 'DeallocateStmt':
      return f.isall ? 'DEALLOCATE ALL' : 'DEALLOCATE';
    case 'GrantStmt':
    case 'GrantRoleStmt':
      return f.is_grant ? 'GRANT' : 'REVOKE';
    case 'VacuumStmt':
      return f.is_vacuumcmd ? 'VACUUM' : 'ANALYZE';
    case 'CreateFunctionStmt':
      return f.is_procedure ? 'CREATE PROCEDURE' : 'CREATE FUNCTION';
    case 'CreateTableAsStmt':
      if (f.is_select_into) return 'SELECT INTO';
      return f.objtype === 'OBJECT_MATVIEW' ? 'CREATE MATERIALIZED VIEW' : 'CREATE TABLE AS';
    case 'DropStmt':
      return `DROP ${objectName(f.removeType)}`;
    case 'DefineStmt':
      return `CREATE ${objectName(f.kind)}`;
    case 'AlterTableStmt':
      return `ALTER ${objectName(f.objtype)}`;
    case 'RenameStmt':
      return `ALTER ${objectName(f.renameType)}`;
    case 'AlterObjectSchemaStmt':
    case 'AlterOwnerStmt':
    case 'AlterObjectDependsStmt':
      return `ALTER ${objectName(f.objectType)}`;
    case 'AlterFunctionStmt':
      return `ALTER ${objectName(f.objtype)}`;
    default:
      return FIXED[kind] ?? fromNodeName(kind);
  }
}
