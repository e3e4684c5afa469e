-- Statements kinesql MUST allow: what psql, pgjdbc, Metabase, Tableau (psqlODBC), Superset (psycopg2 and
-- SQLAlchemy), pgAdmin and DBeaver send, plus everyday analytic queries. Each entry starts with a line
-- "-- ---- <label>"; an entry may hold several statements (then all of them must be allowed).
-- ---- psql \dt
SELECT n.nspname as "Schema",
  c.relname as "Name",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as "Type",
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;
-- ---- psql \d (list of relations)
SELECT n.nspname as "Schema",
  c.relname as "Name",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as "Type",
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r','p','v','m','S','f','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;
-- ---- psql \d t: find the relation
SELECT c.oid,
  n.nspname,
  c.relname
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname OPERATOR(pg_catalog.~) '^(events)$' COLLATE pg_catalog.default
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 2, 3;
-- ---- psql \d t: table properties
SELECT c.relchecks, c.relkind, c.relhasindex, c.relhasrules, c.relhastriggers, c.relrowsecurity, c.relforcerowsecurity, false AS relhasoids, c.relispartition, '', c.reltablespace, CASE WHEN c.reloftype = 0 THEN '' ELSE c.reloftype::pg_catalog.regtype::pg_catalog.text END, c.relpersistence, c.relreplident, am.amname
FROM pg_catalog.pg_class c
 LEFT JOIN pg_catalog.pg_class tc ON (c.reltoastrelid = tc.oid)
LEFT JOIN pg_catalog.pg_am am ON (c.relam = am.oid)
WHERE c.oid = '16384';
-- ---- psql \d t: columns
SELECT a.attname,
  pg_catalog.format_type(a.atttypid, a.atttypmod),
  (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)
   FROM pg_catalog.pg_attrdef d
   WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),
  a.attnotnull,
  (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t
   WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation,
  a.attidentity,
  a.attgenerated
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = '16384' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;
-- ---- psql \d t: policies
SELECT pol.polname, pol.polpermissive,
  CASE WHEN pol.polroles = '{0}' THEN NULL ELSE pg_catalog.array_to_string(array(select rolname from pg_catalog.pg_roles where oid = any (pol.polroles) order by 1),',') END,
  pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),
  pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid),
  CASE pol.polcmd
    WHEN 'r' THEN 'SELECT'
    WHEN 'a' THEN 'INSERT'
    WHEN 'w' THEN 'UPDATE'
    WHEN 'd' THEN 'DELETE'
    END AS cmd
FROM pg_catalog.pg_policy pol
WHERE pol.polrelid = '16384' ORDER BY 1;
-- ---- psql \d t: extended statistics
SELECT oid, stxrelid::pg_catalog.regclass, stxnamespace::pg_catalog.regnamespace::pg_catalog.text AS nsp, stxname,
pg_catalog.pg_get_statisticsobjdef_columns(oid) AS columns,
  'd' = any(stxkind) AS ndist_enabled,
  'f' = any(stxkind) AS deps_enabled,
  'm' = any(stxkind) AS mcv_enabled,
stxstattarget
FROM pg_catalog.pg_statistic_ext
WHERE stxrelid = '16384'
ORDER BY nsp, stxname;
-- ---- psql \d t: publications
SELECT pubname
     , NULL
     , NULL
FROM pg_catalog.pg_publication p
     JOIN pg_catalog.pg_publication_namespace pn ON p.oid = pn.pnpubid
     JOIN pg_catalog.pg_class pc ON pc.relnamespace = pn.pnnspid
WHERE pc.oid ='16384' and pg_catalog.pg_relation_is_publishable('16384')
UNION
SELECT pubname
     , pg_get_expr(pr.prqual, c.oid)
     , (CASE WHEN pr.prattrs IS NOT NULL THEN
         (SELECT string_agg(attname, ', ')
           FROM pg_catalog.generate_series(0, pg_catalog.array_upper(pr.prattrs::pg_catalog.int2[], 1)) s,
                pg_catalog.pg_attribute
          WHERE attrelid = pr.prrelid AND attnum = prattrs[s])
        ELSE NULL END) FROM pg_catalog.pg_publication p
     JOIN pg_catalog.pg_publication_rel pr ON p.oid = pr.prpubid
     JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid
WHERE pr.prrelid = '16384'
UNION
SELECT pubname
     , NULL
     , NULL
FROM pg_catalog.pg_publication p
WHERE p.puballtables AND pg_catalog.pg_relation_is_publishable('16384')
ORDER BY 1;
-- ---- psql \d t: inheritance parents
SELECT c.oid::pg_catalog.regclass
FROM pg_catalog.pg_class c, pg_catalog.pg_inherits i
WHERE c.oid = i.inhparent AND i.inhrelid = '16384'
  AND c.relkind != 'p' AND c.relkind != 'I'
ORDER BY inhseqno;
-- ---- psql \d t: partitions
SELECT c.oid::pg_catalog.regclass, c.relkind, inhdetachpending, pg_catalog.pg_get_expr(c.relpartbound, c.oid)
FROM pg_catalog.pg_class c, pg_catalog.pg_inherits i
WHERE c.oid = i.inhrelid AND i.inhparent = '16384'
ORDER BY pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT', c.oid::pg_catalog.regclass::pg_catalog.text;
-- ---- psql \d t: indexes
SELECT c2.relname, i.indisprimary, i.indisunique, i.indisclustered, i.indisvalid, pg_catalog.pg_get_indexdef(i.indexrelid, 0, true),
  pg_catalog.pg_get_constraintdef(con.oid, true), contype, condeferrable, condeferred, i.indisreplident, c2.reltablespace
FROM pg_catalog.pg_class c, pg_catalog.pg_class c2, pg_catalog.pg_index i
  LEFT JOIN pg_catalog.pg_constraint con ON (conrelid = i.indrelid AND conindid = i.indexrelid AND contype IN ('p','u','x'))
WHERE c.oid = '16384' AND c.oid = i.indrelid AND i.indexrelid = c2.oid
ORDER BY i.indisprimary DESC, c2.relname;
-- ---- psql \l
SELECT
  d.datname as "Name",
  pg_catalog.pg_get_userbyid(d.datdba) as "Owner",
  pg_catalog.pg_encoding_to_char(d.encoding) as "Encoding",
  CASE d.datlocprovider WHEN 'b' THEN 'builtin' WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' END AS "Locale Provider",
  d.datcollate as "Collate",
  d.datctype as "Ctype",
  d.datlocale as "Locale",
  d.daticurules as "ICU Rules",
  CASE WHEN pg_catalog.array_length(d.datacl, 1) = 0 THEN '(none)' ELSE pg_catalog.array_to_string(d.datacl, E'\n') END AS "Access privileges"
FROM pg_catalog.pg_database d
ORDER BY 1;
-- ---- psql \dn
SELECT n.nspname AS "Name",
  pg_catalog.pg_get_userbyid(n.nspowner) AS "Owner"
FROM pg_catalog.pg_namespace n
WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
ORDER BY 1;
-- ---- psql \df
SELECT n.nspname as "Schema",
  p.proname as "Name",
  pg_catalog.pg_get_function_result(p.oid) as "Result data type",
  pg_catalog.pg_get_function_arguments(p.oid) as "Argument data types",
 CASE p.prokind
  WHEN 'a' THEN 'agg'
  WHEN 'w' THEN 'window'
  WHEN 'p' THEN 'proc'
  ELSE 'func'
 END as "Type"
FROM pg_catalog.pg_proc p
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE pg_catalog.pg_function_is_visible(p.oid)
      AND n.nspname <> 'pg_catalog'
      AND n.nspname <> 'information_schema'
ORDER BY 1, 2, 4;
-- ---- psql \du
SELECT r.rolname, r.rolsuper, r.rolinherit,
  r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
  r.rolconnlimit, r.rolvaliduntil,
  r.rolreplication,
  r.rolbypassrls
FROM pg_catalog.pg_roles r
WHERE r.rolname !~ '^pg_'
ORDER BY 1;
-- ---- psql \dx
SELECT e.extname AS "Name", e.extversion AS "Version", n.nspname AS "Schema", c.description AS "Description"
FROM pg_catalog.pg_extension e LEFT JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace LEFT JOIN pg_catalog.pg_description c ON c.objoid = e.oid AND c.classoid = 'pg_catalog.pg_extension'::pg_catalog.regclass
ORDER BY 1;
-- ---- psql \dT
SELECT n.nspname as "Schema",
  pg_catalog.format_type(t.oid, NULL) AS "Name",
  pg_catalog.obj_description(t.oid, 'pg_type') as "Description"
FROM pg_catalog.pg_type t
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE (t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid))
  AND NOT EXISTS(SELECT 1 FROM pg_catalog.pg_type el WHERE el.oid = t.typelem AND el.typarray = t.oid)
      AND n.nspname <> 'pg_catalog'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_type_is_visible(t.oid)
ORDER BY 1, 2;
-- ---- psql tab completion
SELECT pg_catalog.quote_ident(c.relname) FROM pg_catalog.pg_class c WHERE c.relkind IN ('r', 'S', 'v', 'm', 'f', 'p') AND substring(pg_catalog.quote_ident(c.relname),1,0)='' AND pg_catalog.pg_table_is_visible(c.oid) AND c.relnamespace <> (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'pg_catalog')
LIMIT 1000
-- ---- pg_dump start
SELECT pg_catalog.set_config('search_path', '', false);
-- ---- pgjdbc startup settings
SET extra_float_digits = 3
-- ---- pgjdbc application name
SET application_name = 'PostgreSQL JDBC Driver'
-- ---- pgjdbc getTables
SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME,  CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema'  WHEN true THEN CASE  WHEN n.nspname = 'pg_catalog' OR n.nspname = 'information_schema' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TABLE'   WHEN 'v' THEN 'SYSTEM VIEW'   WHEN 'i' THEN 'SYSTEM INDEX'   ELSE NULL   END  WHEN n.nspname = 'pg_toast' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TOAST TABLE'   WHEN 'i' THEN 'SYSTEM TOAST INDEX'   ELSE NULL   END  ELSE CASE c.relkind   WHEN 'r' THEN 'TEMPORARY TABLE'   WHEN 'p' THEN 'TEMPORARY TABLE'   WHEN 'i' THEN 'TEMPORARY INDEX'   WHEN 'S' THEN 'TEMPORARY SEQUENCE'   WHEN 'v' THEN 'TEMPORARY VIEW'   ELSE NULL   END  END  WHEN false THEN CASE c.relkind  WHEN 'r' THEN 'TABLE'  WHEN 'p' THEN 'PARTITIONED TABLE'  WHEN 'i' THEN 'INDEX'  WHEN 'P' then 'PARTITIONED INDEX'  WHEN 'S' THEN 'SEQUENCE'  WHEN 'v' THEN 'VIEW'  WHEN 'c' THEN 'TYPE'  WHEN 'f' THEN 'FOREIGN TABLE'  WHEN 'm' THEN 'MATERIALIZED VIEW'  ELSE NULL  END  ELSE NULL  END  AS TABLE_TYPE, d.description AS REMARKS,  '' as TYPE_CAT, '' as TYPE_SCHEM, '' as TYPE_NAME, '' AS SELF_REFERENCING_COL_NAME, '' AS REF_GENERATION  FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c  LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0  and d.classoid = 'pg_class'::regclass)  WHERE c.relnamespace = n.oid  AND c.relname LIKE '%' AND (false  OR ( c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' ) )  ORDER BY TABLE_TYPE,TABLE_SCHEM,TABLE_NAME
-- ---- pgjdbc getColumns
SELECT * FROM (SELECT n.nspname,c.relname,a.attname,a.atttypid,a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) AS attnotnull,a.atttypmod,a.attlen,t.typtypmod,row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS attnum, nullif(a.attidentity, '') as attidentity,nullif(a.attgenerated, '') as attgenerated,pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS adsrc,dsc.description,t.typbasetype,t.typtype  FROM pg_catalog.pg_namespace n  JOIN pg_catalog.pg_class c ON (c.relnamespace = n.oid)  JOIN pg_catalog.pg_attribute a ON (a.attrelid=c.oid)  JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid)  LEFT JOIN pg_catalog.pg_attrdef def ON (a.attrelid=def.adrelid AND a.attnum = def.adnum)  LEFT JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)  LEFT JOIN pg_catalog.pg_class dc ON (dc.oid=dsc.classoid AND dc.relname='pg_class')  LEFT JOIN pg_catalog.pg_namespace dn ON (dc.relnamespace=dn.oid AND dn.nspname='pg_catalog')  WHERE c.relkind in ('r','p','v','f','m') and a.attnum > 0 AND NOT a.attisdropped  AND n.nspname LIKE 'public' AND c.relname LIKE 'events') c WHERE true  ORDER BY nspname,c.relname,attnum
-- ---- pgjdbc getSchemas
SELECT nspname AS TABLE_SCHEM, NULL AS TABLE_CATALOG FROM pg_catalog.pg_namespace  WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_'  OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_'  OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_'))  ORDER BY TABLE_SCHEM
-- ---- pgjdbc getPrimaryKeys
SELECT result.TABLE_CAT, result.TABLE_SCHEM, result.TABLE_NAME, result.COLUMN_NAME, result.KEY_SEQ, result.PK_NAME FROM (SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM,   ct.relname AS TABLE_NAME, a.attname AS COLUMN_NAME,   (information_schema._pg_expandarray(i.indkey)).n AS KEY_SEQ, ci.relname AS PK_NAME,   information_schema._pg_expandarray(i.indkey) AS KEYS, a.attnum AS A_ATTNUM FROM pg_catalog.pg_class ct   JOIN pg_catalog.pg_attribute a ON (ct.oid = a.attrelid)   JOIN pg_catalog.pg_namespace n ON (ct.relnamespace = n.oid)   JOIN pg_catalog.pg_index i ON ( a.attrelid = i.indrelid)   JOIN pg_catalog.pg_class ci ON (ci.oid = i.indexrelid) WHERE true  AND n.nspname = E'public' AND ct.relname = E'events' AND i.indisprimary  ) result where  result.A_ATTNUM = (result.KEYS).x  ORDER BY result.table_name, result.pk_name, result.key_seq
-- ---- pgjdbc type lookup
SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid   FROM pg_catalog.pg_type   LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r           from pg_namespace as ns           join ( select s.r, (current_schemas(false))[s.r] as nspname                    from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r          using ( nspname )        ) as sp     ON sp.nspoid = typnamespace  WHERE pg_type.oid = $1  ORDER BY sp.r, pg_type.oid DESC
-- ---- pgjdbc getTypeInfo-style
SELECT t.typname,t.oid FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON (t.typnamespace = n.oid)  WHERE n.nspname  != 'pg_toast' AND  (t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid))
-- ---- pgjdbc setReadOnly(true)
SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY
-- ---- pgjdbc isolation
SHOW TRANSACTION ISOLATION LEVEL
-- ---- pgjdbc autosave
BEGIN; SAVEPOINT PGJDBC_AUTOSAVE; RELEASE SAVEPOINT PGJDBC_AUTOSAVE; ROLLBACK TO SAVEPOINT PGJDBC_AUTOSAVE; COMMIT
-- ---- pgjdbc validation query
SELECT 1
-- ---- pgjdbc current schema
select current_schema()
-- ---- connection pool reset
DISCARD ALL
-- ---- pgbouncer-style reset
DEALLOCATE ALL; UNLISTEN *; RESET ALL
-- ---- Metabase isolation
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED
-- ---- Metabase time zone
SET SESSION TIMEZONE TO 'UTC'
-- ---- Metabase show timezone
show timezone;
-- ---- Metabase privileges
with table_privileges as (
 select
   NULL as role,
   t.schemaname as schema,
   t.objectname as table,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'update') as update,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'select') as select,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'insert') as insert,
   pg_catalog.has_table_privilege(     current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'delete') as delete
 from (
   select schemaname, tablename as objectname from pg_catalog.pg_tables
   union
   select schemaname, viewname as objectname from pg_catalog.pg_views
   union
   select schemaname, matviewname as objectname from pg_catalog.pg_matviews
 ) t
 where t.schemaname !~ '^pg_'
   and t.schemaname <> 'information_schema'
   and pg_catalog.has_schema_privilege(current_user, t.schemaname, 'usage')
)
select t.*
from table_privileges t
-- ---- Metabase can-query check
SELECT TRUE AS "_" FROM "s"."t" WHERE 1 <> 1 LIMIT 0
-- ---- Metabase describe database
SELECT "n"."nspname" AS "schema", "c"."relname" AS "name", CASE "c"."relkind" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS "type", "d"."description" AS "description", "stat"."n_live_tup" AS "estimated_row_count" FROM "pg_catalog"."pg_class" AS "c" INNER JOIN "pg_catalog"."pg_namespace" AS "n" ON "c"."relnamespace" = "n"."oid" LEFT JOIN "pg_catalog"."pg_description" AS "d" ON ("c"."oid" = "d"."objoid") AND ("d"."objsubid" = 0) AND ("d"."classoid" = 'pg_class'::regclass) LEFT JOIN "pg_stat_user_tables" AS "stat" ON ("n"."nspname" = "stat"."schemaname") AND ("c"."relname" = "stat"."relname") WHERE ("c"."relnamespace" = "n"."oid") AND ("n"."nspname" !~ '^pg_') AND ("n"."nspname" <> 'information_schema') AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND ("n"."nspname" NOT IN ('information_schema')) ORDER BY "type" ASC, "schema" ASC, "name" ASC
-- ---- Metabase question by day
SELECT date_trunc('day', "public"."events"."_message_timestamp") AS "_message_timestamp", count(*) AS "count" FROM "public"."events" WHERE "public"."events"."_message_timestamp" >= date_trunc('day', (now() + INTERVAL '-30 day')) GROUP BY date_trunc('day', "public"."events"."_message_timestamp") ORDER BY date_trunc('day', "public"."events"."_message_timestamp") ASC
-- ---- Tableau cursor
BEGIN;declare "SQL_CUR0x7f1c2d003a80" cursor with hold for SELECT "events"."_partition_key" AS "_partition_key", COUNT(1) AS "cnt" FROM "public"."events" "events" GROUP BY 1;fetch 100 in "SQL_CUR0x7f1c2d003a80"
-- ---- Tableau fetch and close
FETCH 100 FROM "SQL_CUR0x7f1c2d003a80"; close "SQL_CUR0x7f1c2d003a80"; COMMIT
-- ---- cursor moves
DECLARE c SCROLL CURSOR FOR SELECT * FROM events; MOVE ABSOLUTE 0 IN c; FETCH FORWARD 10 c; FETCH PRIOR FROM c; CLOSE c; CLOSE ALL
-- ---- psqlODBC connection setup
SET DateStyle = 'ISO';SET extra_float_digits = 2;show transaction_isolation
-- ---- psqlODBC lo type probe
select oid, typbasetype from pg_type where typname = 'lo'
-- ---- SQLAlchemy version
select pg_catalog.version()
-- ---- SQLAlchemy standard_conforming_strings
show standard_conforming_strings
-- ---- SQLAlchemy plain returns
SELECT CAST('test plain returns' AS VARCHAR(60)) AS anon_1
-- ---- SQLAlchemy has_table
select relname from pg_class c join pg_namespace n on n.oid=c.relnamespace where pg_catalog.pg_table_is_visible(c.oid) and relname='events'
-- ---- SQLAlchemy get_table_names
SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
-- ---- asyncpg pool reset (a client session holds no advisory locks: taking them is refused)
SELECT pg_advisory_unlock_all();
CLOSE ALL;
UNLISTEN *;
RESET ALL;
-- ---- advisory unlocks
select pg_advisory_unlock(1), pg_advisory_unlock_shared(1, 2), pg_catalog.pg_advisory_unlock_all()
-- ---- pgAdmin connection setup
SET DateStyle=ISO; SET client_min_messages=notice; SELECT set_config('bytea_output','hex',false) FROM pg_settings WHERE name = 'bytea_output'; SET client_encoding='UNICODE';
-- ---- DBeaver schemas
SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass ORDER BY nspname
-- ---- DBeaver settings
SET application_name = 'DBeaver 24.0.0 - Main <postgres>'; select * from pg_catalog.pg_settings where name='standard_conforming_strings'; SELECT current_schema(),session_user
-- ---- the Trino connector's session properties
SET SESSION kinesis.max_batches = 1000; SET kinesis.iter_from_timestamp = true; SET SESSION kinesis.iter_offset_seconds = 3600
-- ---- the Trino connector's session properties reset and set through set_config
RESET kinesis.max_batches; SELECT set_config('kinesis.iter_offset_seconds', '3600', true); SET standard_conforming_strings = on
-- ---- time zone forms
SET TIME ZONE 'UTC'; SET TIME ZONE LOCAL; SET timezone = 'Europe/Berlin'; SET "TimeZone" TO DEFAULT; SET TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE
-- ---- formatting settings
SET DateStyle = 'ISO, MDY'; SET intervalstyle = 'iso_8601'; SET bytea_output = 'escape'; SET lc_monetary = 'C'; SET lc_numeric = 'C'; SET lc_time = 'C'; SET lc_messages = 'C'; SET xmloption = content
-- ---- encoding settings
SET NAMES 'UTF8'; SET client_encoding TO 'utf-8'; SET client_encoding = unicode; SET standard_conforming_strings = on
-- ---- other spellings PostgreSQL reads as UTF8 (quotes kept, as asyncpg sends it; cut to 63 bytes)
SET client_encoding = '''utf-8'''; SET client_encoding TO ' UTF 8 '; SET NAMES 'utf_8'; SELECT set_config('client_encoding', '"Unicode"', false); SET client_encoding = 'utf8-----------------------------------------------------------x'
-- ---- encodings kinesql converts: SQL_ASCII (psqlODBC without LANG), LATIN1 and the other single-byte ones
SET client_encoding TO 'SQL_ASCII'; SET NAMES 'LATIN1'; SET client_encoding = '''latin1'''; SELECT set_config('client_encoding', 'WIN1252', false); SET client_encoding = iso_8859_15; RESET client_encoding
-- ---- timeouts, lowered below the operator's limits (turning one off would raise it: readonly-refused.tsv)
SET LOCAL statement_timeout = '5s'; SET lock_timeout = '1s'; set idle_in_transaction_session_timeout = '1min'
-- ---- search path
SET search_path TO public, "$user"; SET SCHEMA 'public'; RESET search_path
-- ---- planner settings
SET enable_seqscan = off; SET enable_hashjoin TO on; SET jit = off; SET geqo = on; SET work_mem = '16MB'; SET random_page_cost = 1.1; RESET enable_seqscan
-- ---- read-only switches on
SET default_transaction_read_only = on; SET transaction_read_only = true; SET default_transaction_read_only TO 1; set default_transaction_isolation = 'repeatable read'; SET transaction_isolation = 'serializable'
-- ---- row security
SET row_security = on; SET client_min_messages TO warning
-- ---- set_config of allowed settings
SELECT set_config('search_path', 'public', false), set_config('TimeZone', 'UTC', true), pg_catalog.set_config('default_transaction_read_only', 'on', false), set_config(setting_name => 'application_name', new_value => 'x', is_local => false)
-- ---- transaction modes
BEGIN READ ONLY; START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE; SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION READ ONLY
-- ---- transaction control words
BEGIN; END; START TRANSACTION; ABORT; BEGIN WORK; COMMIT AND CHAIN; ROLLBACK AND NO CHAIN; SAVEPOINT s1; RELEASE s1; ROLLBACK TO SAVEPOINT s1; COMMIT
-- ---- prepared statements
PREPARE q(int) AS SELECT * FROM events WHERE _segment_count = $1; EXECUTE q(1); EXPLAIN EXECUTE q(2); DEALLOCATE q; DEALLOCATE PREPARE ALL
-- ---- discard variants
DISCARD PLANS; DISCARD TEMP; DISCARD SEQUENCES
-- ---- COPY out
COPY (SELECT * FROM events WHERE _message_valid) TO STDOUT WITH (FORMAT csv, HEADER)
-- ---- COPY table out
COPY events TO STDOUT; COPY public.events (_shard_id, _message) TO STDOUT (FORMAT binary)
-- ---- EXPLAIN forms
EXPLAIN SELECT * FROM events; EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*) FROM events; EXPLAIN ANALYZE WITH x AS (SELECT 1) SELECT * FROM x; EXPLAIN VERBOSE VALUES (1)
-- ---- TABLE and VALUES
TABLE events; VALUES (1, 'a'), (2, 'b'); TABLE public.events LIMIT 5
-- ---- SHOW forms
SHOW ALL; SHOW search_path; SHOW server_version; SHOW "TimeZone"; show DateStyle
-- ---- harmless functions by decision
SELECT pg_sleep(0.01), txid_current(), pg_current_xact_id(), currval('s'), current_setting('TimeZone'), pg_backend_pid()
-- ---- catalog helpers
SELECT pg_catalog.pg_get_viewdef('v'::regclass, true), pg_size_pretty(pg_total_relation_size('events')), to_regclass('events'), 'events'::regclass::oid, obj_description('events'::regclass, 'pg_class')
-- ---- information_schema
SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, ordinal_position
-- ---- BI: hourly counts with FILTER
SELECT date_trunc('hour', _message_timestamp) AS hour, count(*) FILTER (WHERE _message_valid) AS valid, count(*) FROM events WHERE _message_timestamp >= now() - interval '1 day' GROUP BY 1 ORDER BY 1
-- ---- BI: group by ordinal
SELECT _shard_id, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC LIMIT 10
-- ---- BI: running total
SELECT user_id, amount, sum(amount) OVER (PARTITION BY user_id ORDER BY _message_timestamp ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM orders
-- ---- BI: jsonb operators
SELECT payload->>'type' AS t, (payload->'price')::numeric, payload #>> '{a,b}' FROM events WHERE payload @> '{"status":"ok"}' AND payload ? 'type' AND payload ?| array['a','b']
-- ---- BI: percentiles
SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms), mode() WITHIN GROUP (ORDER BY status) FROM requests
-- ---- BI: recursive CTE
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r WHERE n < 10) SELECT * FROM r
-- ---- BI: semi join
SELECT * FROM events e WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = e.user_id) AND e.user_id NOT IN (SELECT id FROM banned)
-- ---- BI: extract and to_char
SELECT extract(epoch FROM _message_timestamp)::bigint, to_char(_message_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM events LIMIT 5
-- ---- BI: named window and lag
SELECT ts, x - lag(x) OVER w AS delta, rank() OVER w FROM metrics WINDOW w AS (PARTITION BY host ORDER BY ts)
-- ---- BI: distinct count and full join
SELECT count(DISTINCT _partition_key) FROM events FULL OUTER JOIN other USING (_partition_key)
-- ---- BI: time buckets with LATERAL
SELECT g, c.n FROM generate_series(now() - interval '1h', now(), interval '5 min') g LEFT JOIN LATERAL (SELECT count(*) AS n FROM events WHERE _message_timestamp >= g AND _message_timestamp < g + interval '5 min') c ON true
-- ---- BI: rollup
SELECT GROUPING(a), a, b, sum(c) FROM t GROUP BY ROLLUP (a, b)
-- ---- BI: jsonpath
SELECT jsonb_path_query(payload, '$.items[*].id') FROM events
-- ---- BI: fetch first
SELECT * FROM events ORDER BY _message_timestamp DESC FETCH FIRST 10 ROWS ONLY
-- ---- BI: tablesample and set operations
SELECT _shard_id FROM events TABLESAMPLE SYSTEM (10) UNION SELECT _shard_id FROM other EXCEPT SELECT 'x' INTERSECT SELECT 'y'
-- ---- write words in strings, names and comments
select 1 as "delete", 'drop table t' as sql, $$INSERT INTO t VALUES (1)$$ AS dollar, "update" FROM "insert" /* drop table t */ -- ; delete from t
-- ---- keywords as identifiers
SELECT "copy", "grant", "truncate" FROM "vacuum"."analyze" WHERE "lock" = 'pg_read_file(''x'')'
-- ---- function names only as strings
SELECT proname FROM pg_proc WHERE proname IN ('pg_read_file', 'nextval', 'dblink')
-- ---- unicode and escapes
SELECT U&'d\0061t\+000061' AS u, E'tab\there', 'é€😀' AS "ünïcode"
-- ---- Superset sample query
SELECT "_partition_key" AS "_partition_key", COUNT(*) AS "count" FROM "public"."events" GROUP BY "_partition_key" ORDER BY "count" DESC LIMIT 10000
-- ---- cursor with hold and an allowed function
DECLARE c NO SCROLL CURSOR WITH HOLD FOR SELECT set_config('search_path', 'public', true), pg_sleep(0)
-- ---- back to the login role (issue 20): PostgreSQL accepts these from any role
RESET ROLE;
SET ROLE NONE;
SET LOCAL ROLE 'none';
SET ROLE TO DEFAULT;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION DEFAULT;
SELECT current_user, session_user
-- ---- an open transaction holding the lock every SELECT takes (issue 20)
BEGIN; LOCK TABLE t IN ACCESS SHARE MODE
-- ---- the port, with a comment between the words (issue 20)
show /**/ port
-- ---- role probe: pg_get_userbyid of another user's OID (issue 20; test/clients/role-probes.test.ts runs each role probe for bob's name and OID, 4242424242 here)
SELECT pg_get_userbyid(4242424242)
-- ---- role probe: pg_catalog.pg_get_userbyid, quoted
SELECT "pg_catalog"."pg_get_userbyid"(4242424242) AS owner
-- ---- role probe: regrole input
SELECT 'bob'::regrole
-- ---- role probe: regrole input, qualified, as text
SELECT 'bob'::pg_catalog.regrole::text
-- ---- role probe: CAST to regrole
SELECT CAST('bob' AS regrole)
-- ---- role probe: a typed regrole literal
SELECT regrole 'bob'
-- ---- role probe: regrole array input
SELECT '{kinesql_reader,bob}'::regrole[]
-- ---- role probe: regrole as a function-style cast
SELECT pg_catalog.regrole('bob')
-- ---- role probe: regrolein called directly
SELECT regrolein('bob')
-- ---- role probe: regroleout called directly
SELECT pg_catalog.regroleout(4242424242::oid)
-- ---- role probe: regrole in a column definition list
SELECT * FROM json_to_record('{"r": "bob"}') AS t(r regrole)
-- ---- role probe: regrole as a PREPARE parameter
PREPARE role_probe(regrole) AS SELECT $1; EXECUTE role_probe('bob')
-- ---- role probe, OID to name: an OID as a regrole
SELECT 4242424242::oid::regrole
-- ---- role probe, OID to name: an OID as a regrole, as text
SELECT (4242424242)::pg_catalog.regrole::text
-- ---- role probe, OID to name: makeaclitem
SELECT pg_catalog.makeaclitem(4242424242, 4242424242, 'SELECT', false)::text
-- ---- role probe, OID to name: acldefault
SELECT acldefault('r', 4242424242)
-- ---- role probe: pg_describe_object of a role
SELECT pg_describe_object('pg_authid'::regclass, 4242424242, 0)
-- ---- role probe: pg_identify_object of a role
SELECT * FROM pg_catalog.pg_identify_object('pg_authid'::regclass, 4242424242, 0)
-- ---- role probe: pg_identify_object_as_address of a role
SELECT pg_identify_object_as_address(1260, 4242424242, 0)
-- ---- role probe: to_regrole
SELECT to_regrole('bob')
-- ---- role probe: pg_catalog.to_regrole
SELECT pg_catalog.to_regrole('bob') IS NULL AS missing
-- ---- role probe: has_table_privilege by name
SELECT has_table_privilege('bob', 'kinesql.checkpoints', 'SELECT')
-- ---- role probe: pg_catalog.has_database_privilege by name
SELECT pg_catalog.has_database_privilege('bob', current_database(), 'CONNECT')
-- ---- role probe: has_column_privilege by name
SELECT has_column_privilege('bob', 'kinesql.checkpoints', 'role_name', 'SELECT')
-- ---- role probe: has_schema_privilege by name
SELECT has_schema_privilege('bob', 'kinesql', 'USAGE')
-- ---- role probe: has_table_privilege by OID
SELECT has_table_privilege(4242424242::oid, 'kinesql.checkpoints', 'SELECT')
-- ---- role probe: has_any_column_privilege by OID
SELECT pg_catalog.has_any_column_privilege(4242424242::oid, 'kinesql.checkpoints'::regclass, 'SELECT')
-- ---- role probe: pg_has_role by name
SELECT pg_has_role('bob', 'kinesql_reader', 'MEMBER')
-- ---- role probe: pg_has_role of the session's user by name
SELECT pg_catalog.pg_has_role('bob', 'USAGE')
-- ---- role probe: pg_has_role by OID
SELECT pg_has_role(4242424242::oid, 'kinesql_reader', 'MEMBER')
-- ---- role probe: pg_roles by OID
SELECT rolname FROM pg_catalog.pg_roles WHERE oid = 4242424242
-- ---- role probe: pg_roles joined to pg_class.relowner
SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = 'bob'
-- ---- role probe: pg_stat_activity
SELECT usename FROM pg_stat_activity WHERE usesysid = 4242424242 OR usename = 'bob'
-- ---- role probe: pg_db_role_setting
SELECT setconfig FROM pg_db_role_setting WHERE setrole = 4242424242
-- ---- role probe: pg_shdescription
SELECT description FROM pg_shdescription WHERE objoid = 4242424242
-- ---- role probe: aclexplode of every relation's privileges
SELECT c.relname FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee = 4242424242 OR a.grantor = 4242424242
-- ---- role probe: information_schema.enabled_roles and applicable_roles
SELECT role_name FROM information_schema.enabled_roles WHERE role_name = 'bob' UNION ALL SELECT grantee FROM information_schema.applicable_roles WHERE 'bob' IN (grantee, role_name)
-- ---- role probe: information_schema.role_table_grants and table_privileges
SELECT table_name FROM information_schema.role_table_grants WHERE 'bob' IN (grantee, grantor) UNION ALL SELECT table_name FROM information_schema.table_privileges WHERE 'bob' IN (grantee, grantor)
-- ---- role probe: pg_stat_get_activity, the function behind pg_stat_activity
SELECT count(*) FROM pg_stat_get_activity(NULL) WHERE usesysid = 4242424242
-- ---- role probe: pg_stat_get_backend_userid of every backend
SELECT count(*) FROM pg_stat_get_backend_idset() AS b(id) WHERE pg_catalog.pg_stat_get_backend_userid(b.id) = 4242424242
-- ---- role probe: pg_get_object_address of a role by name
SELECT * FROM pg_get_object_address('role', '{bob}', '{}')
-- ---- role probe: pg_input_is_valid as regrole (PostgreSQL 16 and newer)
SELECT pg_input_is_valid('bob', 'regrole')
-- ---- role probe: pg_input_error_info as regrole[] (PostgreSQL 16 and newer)
SELECT * FROM pg_catalog.pg_input_error_info('{kinesql_reader,bob}', 'pg_catalog._regrole')
