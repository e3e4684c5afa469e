/**
 * The catalog as a client of kinesql sees it: functions in kinesql's client-visible schema that clients read in
 * place of catalog relations (sql/setting-questions.ts points their SQL at them). pg_settings shows the session
 * properties' effective values; pg_class, pg_namespace, pg_tables, information_schema.tables and the catalogs
 * whose rows name a schema leave kinesql's internal schemas out; pg_roles, pg_user, pg_group, pg_auth_members,
 * pg_stat_activity and pg_db_role_setting leave other users' login roles out.
 */
import { quoteIdent, quoteLiteral } from '../pg/quoting.js';
import { ALL_SESSION_PROPERTIES, type SessionProperty } from '../config/session-properties.js';
import type { KinesqlConfig } from '../config/config.js';
import type { Engine } from './engine.js';
import { PUBLIC_SCHEMA, READER_ROLE, setting } from './roles.js';

/** What SHOW answers for a session property: kinesql.session_setting(name). */
export const SESSION_SETTING_FUNCTION = `${PUBLIC_SCHEMA}.session_setting`;

/**
 * Catalogs whose rows each name a schema, by the column that does. pg_dump looks up the schema of every row
 * it reads of these among those pg_namespace lists, and stops at one it cannot find ("schema with OID …
 * does not exist"): where pg_namespace leaves a schema out, these leave out its rows.
 */
const NAMESPACED_CATALOGS: Readonly<Record<string, string>> = {
  pg_type: 'typnamespace',
  pg_proc: 'pronamespace',
  pg_constraint: 'connamespace',
  pg_default_acl: 'defaclnamespace',
  pg_operator: 'oprnamespace',
  pg_opclass: 'opcnamespace',
  pg_opfamily: 'opfnamespace',
  pg_collation: 'collnamespace',
  pg_conversion: 'connamespace',
  pg_statistic_ext: 'stxnamespace',
  pg_extension: 'extnamespace',
  pg_ts_parser: 'prsnamespace',
  pg_ts_dict: 'dictnamespace',
  pg_ts_template: 'tmplnamespace',
  pg_ts_config: 'cfgnamespace',
};

const ROLE_CATALOGS = ['pg_roles', 'pg_user', 'pg_group', 'pg_auth_members', 'pg_stat_activity', 'pg_db_role_setting'] as const;

/**
 * The catalog relations clients read kinesql's version of, by schema: each is the function kinesql.<name>(),
 * named after the relation, so that columns qualified by its name still resolve.
 */
export const CLIENT_CATALOG: Readonly<Record<string, readonly string[]>> = {
  pg_catalog: ['pg_settings', 'pg_class', 'pg_tables', 'pg_namespace', ...Object.keys(NAMESPACED_CATALOGS), ...ROLE_CATALOGS],
  information_schema: ['tables'],
};

/** The function clients read in place of catalog relation `name`. */
const functionFor = (name: string): string => `${PUBLIC_SCHEMA}.${name}`;

/** A property's configured default as a setting's text (durations in ms, as the properties take them); '' for none. */
function defaultText(property: SessionProperty<unknown>, config: KinesqlConfig): string {
  const value = property.default(config);
  if (value === undefined) return '';
  return property.type.name === 'duration' ? `${String(value)}ms` : String(value);
}

/**
 * A function clients read in place of a catalog relation (sql/setting-questions.ts points their SQL at it):
 * it returns the catalog's columns, with the types the engine's catalog gives them, and `extra` columns
 * after them. A set-returning SQL function rather than a view: pg_dump refuses to read views outside the
 * system catalogs (restrict_nonsystem_relation_kind), and PostgreSQL inlines such a function into the query.
 */
async function replaceCatalogFunction(engine: Engine, name: string, catalog: string, body: string, extra: readonly string[] = []): Promise<void> {
  const { rows } = await engine.query(
    `SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_catalog.pg_attribute
      WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [catalog],
  );
  const returns = [...rows.map((row) => `${quoteIdent(String(row['attname']))} ${String(row['type'])}`), ...extra].join(', ');
  await engine.transaction(async (tx) => {
    // One kinesql server at a time replaces it (several may start on one engine together).
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`kinesql catalog function ${name}`]);
    await tx.query(`DROP VIEW IF EXISTS ${name}`);
    await tx.query(`DROP FUNCTION IF EXISTS ${name}()`);
    await tx.query(`CREATE FUNCTION ${name}() RETURNS TABLE (${returns}) LANGUAGE sql STABLE AS $f$ ${body} $f$`);
  });
}

/**
 * SHOW and pg_settings give each session property's effective value: what the session set it to (under any of
 * its spellings), else the operator's default. Every backend starts with the properties as empty placeholders,
 * which is all PostgreSQL itself would show.
 */
export async function installSettingViews(engine: Engine, config: KinesqlConfig): Promise<void> {
  const names = ALL_SESSION_PROPERTIES.flatMap((property) => [property.name, ...property.aliases].map((name) => ({ name, property })));
  const cases = names.map(
    ({ name, property }) => `WHEN ${quoteLiteral(name)} THEN coalesce(${setting(property)}, ${quoteLiteral(defaultText(property, config))})`,
  );
  const rows = names.map(({ name, property }) => `(${quoteLiteral(name)}, ${quoteLiteral(property.doc)}, ${quoteLiteral(defaultText(property, config))})`);
  await engine.exec(`CREATE OR REPLACE FUNCTION ${SESSION_SETTING_FUNCTION}(setting_name text) RETURNS text LANGUAGE sql STABLE AS $f$
    SELECT CASE lower(setting_name) ${cases.join(' ')} ELSE current_setting(setting_name) END $f$`);
  await replaceCatalogFunction(
    engine,
    functionFor('pg_settings'),
    'pg_catalog.pg_settings',
    `SELECT * FROM pg_catalog.pg_settings WHERE name NOT IN (${names.map(({ name }) => quoteLiteral(name)).join(', ')})
     UNION ALL
     SELECT p.name, ${SESSION_SETTING_FUNCTION}(p.name), NULL::text, 'Customized Options'::text, p.doc, NULL::text, 'user'::text, 'string'::text,
            CASE WHEN nullif(trim(current_setting(p.name, true)), '') IS NULL THEN 'default' ELSE 'session' END, NULL::text, NULL::text, NULL::text[],
            p.boot, p.boot, NULL::text, NULL::integer, false
       FROM (VALUES ${rows.join(', ')}) AS p(name, doc, boot)`,
  );
}

/** A catalog relation's columns as select-list items of `alias`, or as the expression `replaced` gives for a column. */
async function columnsOf(engine: Engine, catalog: string, alias: string, replaced: Record<string, string> = {}): Promise<string[]> {
  const { rows } = await engine.query(
    'SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum',
    [catalog],
  );
  return rows.map((row) => {
    const name = String(row['attname']);
    return replaced[name] ?? `${alias}.${quoteIdent(name)}`;
  });
}

/**
 * The relations clients see: every relation but those in `hiddenSchemas` (kinesql's private state, the
 * stream tables' time partitions), and each stream table as a plain table (relkind 'r'), which is what it is
 * to a client; its partitioning is how kinesql stores and evicts it. Drivers list tables from pg_class
 * (pgjdbc's getTables, psqlODBC's SQLTables, psql's \dt, pg_dump), so they list the stream tables and the
 * status tables and nothing internal. `pg_tables` and `information_schema.tables` leave the same schemas out,
 * and so do pg_namespace (psql's \dn, pgjdbc's getSchemas) and, for pg_dump, every catalog whose rows name a
 * schema (the hidden tables' row types, the default privileges of kinesql's private schema, …). pg_dump also
 * reads the system column tableoid, returned after the others.
 */
export async function installCatalogViews(engine: Engine, hiddenSchemas: readonly string[], distributed = false): Promise<void> {
  const hidden = `(${hiddenSchemas.map(quoteLiteral).join(', ')})`;
  await replaceCatalogFunction(
    engine,
    functionFor('pg_class'),
    'pg_catalog.pg_class',
    `SELECT ${(await columnsOf(engine, 'pg_catalog.pg_class', 'c', { relkind: `CASE c.relkind WHEN 'p' THEN 'r'::"char" ELSE c.relkind END` })).join(', ')}, c.tableoid FROM pg_catalog.pg_class c
      WHERE c.relnamespace NOT IN (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname IN ${hidden})${
        // The coordinator's copies of reference tables are shards, which Citus lets no client lock (pg_dump does).
        distributed ? ' AND NOT pg_catalog.relation_is_a_known_shard(c.oid)' : ''
      }`,
    ['tableoid oid'],
  );
  await replaceCatalogFunction(
    engine,
    functionFor('pg_namespace'),
    'pg_catalog.pg_namespace',
    `SELECT ${(await columnsOf(engine, 'pg_catalog.pg_namespace', 'n')).join(', ')}, n.tableoid FROM pg_catalog.pg_namespace n WHERE n.nspname NOT IN ${hidden}`,
    ['tableoid oid'],
  );
  for (const [catalog, namespace] of Object.entries(NAMESPACED_CATALOGS)) {
    await replaceCatalogFunction(
      engine,
      functionFor(catalog),
      `pg_catalog.${catalog}`,
      `SELECT ${(await columnsOf(engine, `pg_catalog.${catalog}`, 'o')).join(', ')}, o.tableoid FROM pg_catalog.${catalog} o
        WHERE o.${namespace} NOT IN (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname IN ${hidden})`,
      ['tableoid oid'],
    );
  }
  await replaceCatalogFunction(
    engine,
    functionFor('pg_tables'),
    'pg_catalog.pg_tables',
    `SELECT ${(await columnsOf(engine, 'pg_catalog.pg_tables', 't')).join(', ')} FROM pg_catalog.pg_tables t WHERE t.schemaname NOT IN ${hidden}`,
  );
  await replaceCatalogFunction(
    engine,
    functionFor('tables'),
    'information_schema.tables',
    `SELECT ${(await columnsOf(engine, 'information_schema.tables', 't')).join(', ')} FROM information_schema.tables t WHERE t.table_schema NOT IN ${hidden}`,
  );
}

/**
 * Whether the role `oid` is one a client may see listed: every role but the login roles of the other users
 * of kinesql (the direct members of the reader role). A list of what to show instead would miss what pg_dump
 * needs: it reads the owner of every object it dumps from pg_roles and stops at one it cannot find, and on an
 * external engine objects may belong to any of its roles. A client's login role owns nothing.
 */
function visibleRole(oid: string): string {
  return `${oid} NOT IN (SELECT client.member FROM pg_catalog.pg_auth_members client
    WHERE client.roleid = ${quoteLiteral(READER_ROLE)}::pg_catalog.regrole
      AND client.member <> (SELECT own.oid FROM pg_catalog.pg_roles own WHERE own.rolname = session_user))`;
}

/**
 * The roles clients see (pg_roles: psql's \du, BI tools' user lists; pg_user; pg_group; pg_auth_members:
 * who is a member of what), the sessions (pg_stat_activity) and the roles' settings (pg_db_role_setting: psql's
 * \drds; kinesql sets some on every login role): those of visibleRole, so that no client learns the names, nor
 * the OIDs, of the others who log in to kinesql. pg_authid and pg_shadow are the superuser's only.
 */
export async function installRoleViews(engine: Engine): Promise<void> {
  await replaceCatalogFunction(
    engine,
    functionFor('pg_roles'),
    'pg_catalog.pg_roles',
    `SELECT ${(await columnsOf(engine, 'pg_catalog.pg_roles', 'r')).join(', ')} FROM pg_catalog.pg_roles r WHERE ${visibleRole('r.oid')}`,
  );
  await replaceCatalogFunction(
    engine,
    functionFor('pg_user'),
    'pg_catalog.pg_user',
    `SELECT ${(await columnsOf(engine, 'pg_catalog.pg_user', 'u')).join(', ')} FROM pg_catalog.pg_user u WHERE ${visibleRole('u.usesysid')}`,
  );
  const members = `CASE WHEN g.grolist IS NOT NULL THEN ARRAY(SELECT m FROM pg_catalog.unnest(g.grolist) AS m WHERE ${visibleRole('m')}) END`;
  await replaceCatalogFunction(
    engine,
    functionFor('pg_group'),
    'pg_catalog.pg_group',
    `SELECT ${(await columnsOf(engine, 'pg_catalog.pg_group', 'g', { grolist: members })).join(', ')} FROM pg_catalog.pg_group g WHERE ${visibleRole('g.grosysid')}`,
  );
  await replaceCatalogFunction(
    engine,
    functionFor('pg_auth_members'),
    'pg_catalog.pg_auth_members',
    `SELECT ${(await columnsOf(engine, 'pg_catalog.pg_auth_members', 'm')).join(', ')} FROM pg_catalog.pg_auth_members m
      WHERE ${visibleRole('m.roleid')} AND ${visibleRole('m.member')}`,
  );
  // The sessions: the client's own, kinesql's and the engine's background processes (no role), not other users'.
  await replaceCatalogFunction(
    engine,
    functionFor('pg_stat_activity'),
    'pg_catalog.pg_stat_activity',
    `SELECT ${(await columnsOf(engine, 'pg_catalog.pg_stat_activity', 'a')).join(', ')} FROM pg_catalog.pg_stat_activity a
      WHERE a.usesysid IS NULL OR ${visibleRole('a.usesysid')}`,
  );
  await replaceCatalogFunction(
    engine,
    functionFor('pg_db_role_setting'),
    'pg_catalog.pg_db_role_setting',
    `SELECT ${(await columnsOf(engine, 'pg_catalog.pg_db_role_setting', 's')).join(', ')} FROM pg_catalog.pg_db_role_setting s WHERE ${visibleRole('s.setrole')}`,
  );
}
