import java.sql.*;
import java.util.*;

/** Drives kinesql through pgjdbc the way applications and Metabase do; prints key=value lines for the test to check. */
public class JdbcProbe {
  static void out(String key, Object value) { System.out.println(key + "=" + value); }

  public static void main(String[] args) throws Exception {
    String url = args[0];
    Properties props = new Properties();
    props.setProperty("user", "jdbc");
    props.setProperty("ApplicationName", "jdbc-probe");
    try (Connection c = DriverManager.getConnection(url, props)) {
      DatabaseMetaData md = c.getMetaData();
      List<String> tables = new ArrayList<>();
      // The table types Metabase asks for.
      String[] types = {"TABLE", "PARTITIONED TABLE", "VIEW", "FOREIGN TABLE", "MATERIALIZED VIEW"};
      try (ResultSet rs = md.getTables(null, "market", "%", types)) { while (rs.next()) tables.add(rs.getString("TABLE_SCHEM") + "." + rs.getString("TABLE_NAME") + ":" + rs.getString("TABLE_TYPE")); }
      out("tables", tables);
      // Every table of every schema, as a generic SQL tool lists them.
      List<String> allTables = new ArrayList<>();
      try (ResultSet rs = md.getTables(null, null, "%", new String[] {"TABLE"})) { while (rs.next()) allTables.add(rs.getString("TABLE_SCHEM") + "." + rs.getString("TABLE_NAME")); }
      out("allTables", allTables);
      List<String> columns = new ArrayList<>();
      try (ResultSet rs = md.getColumns(null, "market", "trades", "%")) { while (rs.next()) columns.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME")); }
      out("columns", columns);
      List<String> schemas = new ArrayList<>();
      try (ResultSet rs = md.getSchemas()) { while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM")); }
      out("schemas", schemas.contains("market") && schemas.contains("public"));
      out("schemaList", schemas);
      int keys = 0;
      try (ResultSet rs = md.getPrimaryKeys(null, "market", "trades")) { while (rs.next()) keys++; }
      out("primaryKeys", keys);
      int typeInfo = 0;
      try (ResultSet rs = md.getTypeInfo()) { while (rs.next()) typeInfo++; }
      out("typeInfo", typeInfo > 20);

      // Ten executions: pgjdbc switches to a named server-side statement and binary results after five.
      List<String> symbols = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("select symbol, price, executed from market.trades where trade_id = ?")) {
        for (int i = 1; i <= 10; i++) {
          ps.setLong(1, i);
          try (ResultSet rs = ps.executeQuery()) { rs.next(); symbols.add(rs.getString(1) + "/" + rs.getBigDecimal(2) + "/" + rs.getTimestamp(3).toInstant()); }
        }
      }
      out("prepared", String.join(",", symbols));

      c.setAutoCommit(false);
      long sum = 0; int rows = 0;
      try (Statement st = c.createStatement()) {
        st.setFetchSize(50);
        try (ResultSet rs = st.executeQuery("select trade_id from market.trades order by trade_id")) { while (rs.next()) { sum += rs.getLong(1); rows++; } }
      }
      c.commit();
      c.setAutoCommit(true);
      out("fetched", rows + ":" + sum);

      try (Statement st = c.createStatement()) {
        Thread canceller = new Thread(() -> { try { Thread.sleep(700); st.cancel(); } catch (Exception e) { throw new RuntimeException(e); } });
        canceller.start();
        try {
          st.executeQuery("select count(*) from generate_series(1, 3000) a, generate_series(1, 30000) b");
          out("cancel", "not cancelled");
        } catch (SQLException e) {
          out("cancel", e.getSQLState());
        }
        canceller.join();
        try (ResultSet rs = st.executeQuery("select count(*) from market.trades")) { rs.next(); out("afterCancel", rs.getLong(1)); }
      }

      // Metabase's connect and sync sequence, statement by statement.
      try (Statement st = c.createStatement()) {
        st.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED");
        st.execute("SET SESSION TIMEZONE TO 'Europe/Berlin'");
        try (ResultSet rs = st.executeQuery("SHOW TRANSACTION ISOLATION LEVEL")) { rs.next(); out("isolation", rs.getString(1)); }
        try (ResultSet rs = st.executeQuery("show timezone;")) { rs.next(); out("timezone", rs.getString(1)); }
        List<String> selectable = new ArrayList<>();
        try (ResultSet rs = st.executeQuery(
            "with table_privileges as (select NULL as role, t.schemaname as schema, t.objectname as table,"
            + " pg_catalog.has_any_column_privilege(current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"', 'select') as select"
            + " from (select schemaname, tablename as objectname from pg_catalog.pg_tables union select schemaname, matviewname as objectname from pg_catalog.pg_matviews) t"
            + " where t.schemaname !~ '^pg_' and t.schemaname <> 'information_schema')"
            + " select schema, \"table\" from table_privileges where \"select\" = true order by 1, 2")) {
          while (rs.next()) selectable.add(rs.getString(1) + "." + rs.getString(2));
        }
        out("selectable", selectable.contains("market.trades"));
        List<String> fields = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(
            "SELECT c.column_name AS name, c.udt_name AS \"database-type\", c.ordinal_position - 1 AS \"database-position\","
            + " c.table_schema AS \"table-schema\", c.table_name AS \"table-name\","
            + " col_description(format('%I.%I', c.table_schema, c.table_name)::regclass::oid, c.ordinal_position) AS \"field-comment\""
            + " FROM information_schema.columns c WHERE c.table_schema = ? AND c.table_name = ? ORDER BY c.ordinal_position")) {
          ps.setString(1, "market");
          ps.setString(2, "trades");
          try (ResultSet rs = ps.executeQuery()) { while (rs.next()) fields.add(rs.getString(1) + ":" + rs.getString(2)); }
        }
        out("fields", fields);
        try (ResultSet rs = st.executeQuery("SELECT TRUE AS \"_\" FROM \"market\".\"trades\" WHERE 1 <> 1 LIMIT 0")) { out("probe", rs.next()); }
        int sampled = 0;
        try (ResultSet rs = st.executeQuery("SELECT \"market\".\"trades\".\"symbol\" AS \"symbol\" FROM \"market\".\"trades\" LIMIT 10000")) { while (rs.next()) sampled++; }
        out("sampled", sampled);
      }
    }
  }
}
