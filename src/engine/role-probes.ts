/**
 * Another user's login as the catalog functions show it to a client: as if the role did not exist. pg_roles and
 * its relatives leave other users' logins out (catalog-functions.ts), but PostgreSQL's functions that take or
 * give a role look roles up themselves: pg_get_userbyid(oid), the regrole type's input and output
 * (`'bob'::regrole`, `oid::regrole`), to_regrole, has_*_privilege(user, …) and pg_has_role. kinesql's versions
 * of them live in its client-visible schema, with the signatures of the originals, and answer for a hidden
 * role what PostgreSQL answers for one that does not exist; sql/role-probes.ts points a client's calls and casts
 * at them. Everything here is decided in the engine, from its own membership table, for the session's login.
 *
 * Why the client's SQL is pointed here rather than the engine changed under it: a schema before pg_catalog on
 * the search_path catches unqualified calls only, and psql qualifies every call (`pg_catalog.pg_get_userbyid`);
 * REVOKE EXECUTE on pg_get_userbyid would break the system views that call it as the client (pg_tables,
 * pg_matviews, …); and a type's input and output functions run without an EXECUTE check at all.
 *
 * What this does not reach: a string literal or parameter the engine reads as a regrole or an aclitem because of
 * what it meets (`'alice'::regrole = 'bob'`, `relacl @> 'bob=r/postgres'`) goes through the type's own input
 * while the statement is planned; it still tells whether a name is a role (never a name not asked for).
 */
import { quoteLiteral } from '../pg/quoting.js';
import type { Engine } from './engine.js';
import { PUBLIC_SCHEMA, READER_ROLE } from './roles.js';

/** Text that names a role as the regrole type reads it (a name, an OID in digits, or '-'), checked: a hidden role does not exist. */
export const ROLE_REFERENCE_DOMAIN = `${PUBLIC_SCHEMA}.role_reference`;

/** Where kinesql's version of a role probe function lives, qualified. */
export function roleProbeFunction(name: string): string {
  return `${PUBLIC_SCHEMA}.${name}`;
}

/** The has_*_privilege functions: each takes a user first in its longest form. */
const PRIVILEGE_FUNCTIONS = [
  'has_any_column_privilege',
  'has_column_privilege',
  'has_database_privilege',
  'has_foreign_data_wrapper_privilege',
  'has_function_privilege',
  'has_language_privilege',
  'has_largeobject_privilege',
  'has_parameter_privilege',
  'has_schema_privilege',
  'has_sequence_privilege',
  'has_server_privilege',
  'has_table_privilege',
  'has_tablespace_privilege',
  'has_type_privilege',
];

/** The functions that describe any object by its catalog's OID and its own: a hidden role is described as OID 0, which is no role. */
const OBJECT_FUNCTIONS = ['pg_describe_object', 'pg_identify_object', 'pg_identify_object_as_address'];

/** Functions (and the function-style casts `regrole(…)`, `_regrole(…)`) whose calls go to kinesql's version, by name. */
export const ROLE_PROBE_FUNCTIONS: readonly string[] = [
  'pg_get_userbyid',
  'to_regrole',
  'regrolein',
  'regroleout',
  'regrole',
  '_regrole',
  'pg_has_role',
  ...PRIVILEGE_FUNCTIONS,
  'makeaclitem',
  'acldefault',
  ...OBJECT_FUNCTIONS,
  'pg_stat_get_activity',
  'pg_stat_get_backend_userid',
  'pg_get_object_address',
  'pg_input_error_info',
  'pg_input_is_valid',
];

/**
 * Whether a role is another user's login. role_hidden has a subquery, so PostgreSQL runs it as a function call for
 * each row it is asked of; the roles initdb made (the owners of the system catalogs) are below the first OID
 * CREATE ROLE gives (FirstNormalObjectId) and are answered without it.
 */
const hidden = (oid: string): string => `(${oid} OPERATOR(pg_catalog.>=) 16384::oid AND ${PUBLIC_SCHEMA}.role_hidden(${oid}))`;

/** Whether no role named `name` (an SQL expression) is one the session may see. */
const noVisibleRole = (name: string): string => `NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = ${name} AND NOT ${hidden('r.oid')})`;

/** What a raise of PostgreSQL's error for a missing role named `name` looks like in PL/pgSQL. */
const raiseMissing = (name: string): string => `RAISE EXCEPTION 'role "%" does not exist', ${name} USING ERRCODE = 'undefined_object'`;

/** A function that returns its argument, a role by name or OID, and raises `message` when `refused`. */
function passedIfVisible(name: string, type: string, refused: string, message: string): string {
  return `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.${name}(role ${type}) RETURNS ${type} LANGUAGE plpgsql STABLE AS $f$
   BEGIN
     IF ${refused} THEN RAISE EXCEPTION ${message}, role USING ERRCODE = 'undefined_object'; END IF;
     RETURN role;
   END $f$`;
}

/**
 * The functions every wrapper builds on. role_hidden: whether a role is another user's login (a direct member of
 * the reader role that is not the session's own). visible_role_name: a role name as given, or PostgreSQL's
 * error for a role that does not exist. visible_role_oid: a role's OID as given, or an error for a hidden one
 * (PostgreSQL would print a missing role's OID where a name goes; kinesql cannot make a regrole or aclitem of a
 * hidden role's OID print as a number, so it refuses to make one). check_role_reference: the regrole type's input
 * rules (a digit string is an OID, '-' is none, anything else a role name) with a hidden role missing.
 *
 * An error PL/pgSQL raises carries the function's line as its context, which PostgreSQL's own "role … does not
 * exist" does not: so a missing role name is refused by the same RAISE as a hidden one, and the two read alike.
 */
const FOUNDATION = [
  `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.role_hidden(role_id oid) RETURNS boolean LANGUAGE sql STABLE AS $f$
     SELECT EXISTS (SELECT FROM pg_catalog.pg_auth_members m
       WHERE m.member = role_id AND m.roleid = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = ${quoteLiteral(READER_ROLE)})
         AND m.member <> (SELECT own.oid FROM pg_catalog.pg_roles own WHERE own.rolname = session_user)) $f$`,
  // A missing role fails here too (PUBLIC aside, which has_*_privilege take for a role): in the same words, from the same line.
  passedIfVisible('visible_role_name', 'name', `role <> 'public' AND ${noVisibleRole('role')}`, `'role "%" does not exist'`),
  passedIfVisible('visible_role_oid', 'oid', hidden('role'), `'role with OID % does not exist'`),
  `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.check_role_reference(reference text) RETURNS boolean LANGUAGE plpgsql STABLE AS $f$
   BEGIN
     IF reference IS NULL OR reference = '-' THEN RETURN true; END IF;
     IF reference ~ '^[0-9]+$' THEN
       -- Raised here, not in visible_role_oid: an error from a function this one calls would carry this one's line as its context.
       IF ${hidden('reference::oid')} THEN
         RAISE EXCEPTION 'role with OID % does not exist', reference USING ERRCODE = 'undefined_object';
       END IF;
       RETURN true;
     END IF;
     -- A missing role fails here too, in regrolein's words, from the same line as a hidden one.
     IF pg_catalog.to_regrole(reference) IS NULL OR ${hidden('pg_catalog.to_regrole(reference)')} THEN
       RAISE EXCEPTION 'role "%" does not exist', (pg_catalog.parse_ident(reference))[1] USING ERRCODE = 'undefined_object';
     END IF;
     RETURN true;
   END $f$`,
  `DO $$ BEGIN
     CREATE DOMAIN ${ROLE_REFERENCE_DOMAIN} AS text CHECK (${PUBLIC_SCHEMA}.check_role_reference(VALUE));
   EXCEPTION WHEN duplicate_object THEN NULL;
   END $$`,
];

const checkedRole = (text: string): string => `${text}::${ROLE_REFERENCE_DOMAIN}::pg_catalog.regrole`;

/**
 * pg_get_userbyid, to_regrole, the regrole type's input and output functions and its function-style casts, and the
 * functions that make an aclitem (whose output names its roles) from OIDs.
 */
const REGROLE_FUNCTIONS = [
  `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.pg_get_userbyid(oid) RETURNS name LANGUAGE sql STABLE AS $f$
     SELECT CASE WHEN ${hidden('$1')} THEN ('unknown (OID=' || $1 || ')')::name ELSE pg_catalog.pg_get_userbyid($1) END $f$`,
  `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.to_regrole(text) RETURNS regrole LANGUAGE sql STABLE AS $f$
     SELECT CASE WHEN ${hidden('pg_catalog.to_regrole($1)')} THEN NULL ELSE pg_catalog.to_regrole($1) END $f$`,
  // Text where the originals have cstring, which no SQL function may take or give (a literal reads as either).
  `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.regrolein(text) RETURNS regrole LANGUAGE sql STABLE AS $f$ SELECT ${checkedRole('$1')} $f$`,
  `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.regroleout(regrole) RETURNS text LANGUAGE sql STABLE AS $f$
     SELECT CASE WHEN ${hidden('$1')} THEN $1::oid::text ELSE pg_catalog.regroleout($1)::text END $f$`,
  `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.regrole(text) RETURNS regrole LANGUAGE sql STABLE AS $f$ SELECT ${checkedRole('$1')} $f$`,
  `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.regrole(oid) RETURNS regrole LANGUAGE sql STABLE AS $f$ SELECT ${checkedRole('$1::text')} $f$`,
  `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.makeaclitem(oid, oid, text, boolean) RETURNS aclitem LANGUAGE sql STABLE AS $f$
     SELECT pg_catalog.makeaclitem(${PUBLIC_SCHEMA}.visible_role_oid($1), ${PUBLIC_SCHEMA}.visible_role_oid($2), $3, $4) $f$`,
  `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.acldefault("char", oid) RETURNS aclitem[] LANGUAGE sql STABLE AS $f$
     SELECT pg_catalog.acldefault($1, ${PUBLIC_SCHEMA}.visible_role_oid($2)) $f$`,
  `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}._regrole(text) RETURNS regrole[] LANGUAGE sql STABLE AS $f$
     SELECT $1::${ROLE_REFERENCE_DOMAIN}[]::pg_catalog.regrole[] $f$`,
];

interface Signature {
  name: string;
  args: string[];
  returns: string;
}

/**
 * A wrapper of has_*_privilege or pg_has_role with the original's signature. A role given by name that is
 * hidden fails as a missing one does; given by OID, the answer is the one for a role that does not exist:
 * PUBLIC's privileges (a missing role has no grants and no memberships), and for pg_has_role, a role is a
 * member of itself and of nothing else.
 */
function privilegeWrapper({ name, args, returns }: Signature, longest: number): string {
  const roles = name === 'pg_has_role' ? (args.length === 3 ? [0, 1] : [0]) : args.length === longest ? [0] : [];
  const passed = args.map((type, i) => (roles.includes(i) && type === 'name' ? `${PUBLIC_SCHEMA}.visible_role_name($${i + 1})` : `$${i + 1}`));
  const call = `pg_catalog.${name}(${passed.join(', ')})`;
  const byOid = roles.filter((i) => args[i] === 'oid');
  const missing =
    name === 'pg_has_role' ? (byOid.length === 2 ? '$1 = $2' : 'false') : `pg_catalog.${name}(${["'public'::name", ...passed.slice(1)].join(', ')})`;
  const body = byOid.length === 0 ? call : `CASE WHEN ${byOid.map((i) => hidden(`$${i + 1}`)).join(' OR ')} THEN ${missing} ELSE ${call} END`;
  return `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.${name}(${args.join(', ')}) RETURNS ${returns} LANGUAGE sql STABLE AS $f$ SELECT ${body} $f$`;
}

/** The engine's has_*_privilege and pg_has_role functions, each signature (the engine's version decides which exist). */
async function privilegeSignatures(engine: Engine): Promise<Signature[]> {
  const { rows } = await engine.query(
    `SELECT p.proname AS name, pg_catalog.format_type(p.prorettype, NULL) AS returns,
            ARRAY(SELECT pg_catalog.format_type(a.type, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(type, n) ORDER BY a.n) AS args
       FROM pg_catalog.pg_proc p
      WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY ($1) ORDER BY 1`,
    [['pg_has_role', ...PRIVILEGE_FUNCTIONS]],
  );
  return rows.map((row) => ({ name: String(row['name']), returns: String(row['returns']), args: (row['args'] as string[]).map(String) }));
}

/**
 * Functions declared as the engine declares them (their OUT columns too), by name, each with its language and
 * body; a function the engine does not have (pg_input_is_valid before PostgreSQL 16) is left out.
 */
const DECLARED_WRAPPERS: Readonly<Record<string, string>> = {
  // A hidden role is described as OID 0, which is no role.
  ...Object.fromEntries(
    OBJECT_FUNCTIONS.map((name) => {
      const call = `pg_catalog.${name}($1, CASE WHEN $1 = 'pg_catalog.pg_authid'::regclass AND ${hidden('$2')} THEN 0 ELSE $2 END, $3)`;
      return [name, `LANGUAGE sql STABLE AS $f$ SELECT ${name === 'pg_describe_object' ? call : `* FROM ${call}`} $f$`];
    }),
  ),
  // Another user's sessions, as pg_stat_activity leaves them out (engine's own processes have no role).
  pg_stat_get_activity: `LANGUAGE sql STABLE AS $f$
    SELECT * FROM pg_catalog.pg_stat_get_activity($1) a WHERE a.usesysid IS NULL OR NOT ${hidden('a.usesysid')} $f$`,
  pg_stat_get_backend_userid: `LANGUAGE sql STABLE AS $f$
    SELECT CASE WHEN ${hidden('pg_catalog.pg_stat_get_backend_userid($1)')} THEN NULL ELSE pg_catalog.pg_stat_get_backend_userid($1) END $f$`,
  // The object types whose first name is a role; a missing role is refused by the same RAISE as a hidden one.
  pg_get_object_address: `LANGUAGE plpgsql STABLE AS $f$
    BEGIN
      IF $1 IN ('role', 'user mapping', 'default acl') AND pg_catalog.cardinality($2) >= 1 AND $2[1] <> 'public' AND ${noVisibleRole('$2[1]')} THEN
        ${raiseMissing('$2[1]')};
      END IF;
      SELECT a.classid, a.objid, a.objsubid INTO classid, objid, objsubid FROM pg_catalog.pg_get_object_address($1, $2, $3) a;
    END $f$`,
  // regrole's input as a cast reads it (check_role_reference).
  pg_input_error_info: `LANGUAGE plpgsql STABLE AS $f$
    BEGIN
      IF pg_catalog.to_regtype($2) IN ('pg_catalog.regrole'::pg_catalog.regtype, 'pg_catalog._regrole'::pg_catalog.regtype) THEN
        BEGIN
          IF pg_catalog.to_regtype($2) = 'pg_catalog.regrole'::pg_catalog.regtype THEN PERFORM $1::${ROLE_REFERENCE_DOMAIN};
          ELSE PERFORM $1::${ROLE_REFERENCE_DOMAIN}[];
          END IF;
        EXCEPTION WHEN undefined_object THEN
          GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, sql_error_code = RETURNED_SQLSTATE;
          RETURN;
        END;
      END IF;
      SELECT e.message, e.detail, e.hint, e.sql_error_code INTO message, detail, hint, sql_error_code FROM pg_catalog.pg_input_error_info($1, $2) e;
    END $f$`,
  pg_input_is_valid: `LANGUAGE sql STABLE AS $f$ SELECT (${PUBLIC_SCHEMA}.pg_input_error_info($1, $2)).sql_error_code IS NULL $f$`,
};

async function declaredWrappers(engine: Engine): Promise<string[]> {
  const { rows } = await engine.query(
    `SELECT p.proname AS name, pg_catalog.pg_get_function_arguments(p.oid) AS args, pg_catalog.pg_get_function_result(p.oid) AS result
       FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY ($1)
      -- pg_input_is_valid calls pg_input_error_info's wrapper: that one first.
      ORDER BY p.proname = 'pg_input_is_valid'`,
    [Object.keys(DECLARED_WRAPPERS)],
  );
  return rows.map((row) => {
    const name = String(row['name']);
    return `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.${name}(${String(row['args'])}) RETURNS ${String(row['result'])} ${DECLARED_WRAPPERS[name]!}`;
  });
}

/** Creates (or brings up to date) kinesql's versions of the functions that take or give a role. */
export async function installRoleProbeFunctions(engine: Engine): Promise<void> {
  const declared = await declaredWrappers(engine);
  const signatures = await privilegeSignatures(engine);
  const longest = new Map<string, number>();
  for (const { name, args } of signatures) longest.set(name, Math.max(longest.get(name) ?? 0, args.length));
  await engine.transaction(async (tx) => {
    // One kinesql server at a time replaces them (several may start on one engine together).
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['kinesql role probe functions']);
    for (const statement of [
      ...FOUNDATION,
      ...REGROLE_FUNCTIONS,
      ...declared,
      ...signatures.map((signature) => privilegeWrapper(signature, longest.get(signature.name)!)),
    ]) {
      await tx.query(statement);
    }
  });
}
