/**
 * The status page at `/`: plain HTML rendered from a StatusModel, with inline CSS and a refresh every few
 * seconds. Every value from outside (table, stream and shard names, errors) is HTML-escaped.
 */
import { durationText, percentText } from '../store/load-progress.js';
import type { ShardRow, StatusModel, TableRow } from './status-model.js';

export { durationText, percentText };

export const REFRESH_SECONDS = 5;

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (character) => ENTITIES[character]!);
}

function plural(n: number, noun: string): string {
  return `${countText(n)} ${noun}${n === 1 ? '' : 's'}`;
}

function behindText(ms: number | undefined): string {
  return ms === undefined ? '–' : `${durationText(ms)} behind`;
}

/** What the line under a table's bar says of the rest of its load. */
function leftText(table: TableRow): string {
  if (table.progress >= 1) return 'loaded';
  if (table.secondsLeft !== undefined) return `${durationText(table.secondsLeft * 1000)} left`;
  if (table.catchingUp) return 'loading; time left once the rate is known';
  // Rows kept in the data directory from an earlier run count once their shards are read again.
  if (table.rows > 0 && table.progress === 0 && table.shards.every((shard) => shard.calls === 0)) return 'not read since kinesql started';
  return 'no load under way';
}

function countText(n: number): string {
  return n.toLocaleString('en-US');
}

function bytesText(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function bar(ratio: number, kind: 'table' | 'shard'): string {
  const percent = percentText(ratio);
  const done = ratio >= 1 ? ' done' : '';
  return `<div class="progress ${kind}${done}" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${(ratio * 100).toFixed(1)}"><div class="fill" style="width:${(ratio * 100).toFixed(2)}%"></div></div><span class="percent">${percent}</span>`;
}

function errorsCell(errors: readonly string[]): string {
  if (errors.length === 0) return '<td class="ok">none</td>';
  return `<td class="error">${errors.map((error) => `<div>${escapeHtml(error)}</div>`).join('')}</td>`;
}

function shardRow(table: TableRow, shard: ShardRow): string {
  return `<tr class="shard" data-table="${escapeHtml(table.table)}" data-shard="${escapeHtml(shard.shardId)}">
<td class="name">${escapeHtml(shard.shardId)}</td><td class="muted">${escapeHtml(shard.state)}</td>
<td class="num">${countText(shard.rows)}${shard.invalidRows > 0 ? ` <span class="warn">(${countText(shard.invalidRows)} invalid)</span>` : ''}</td>
<td class="bar-cell">${bar(shard.progress, 'shard')}</td>
<td class="num">${behindText(shard.millisBehindLatest)}</td>
<td class="num">${durationText(shard.lagMs)}</td>
<td class="num">${countText(shard.throttles)} of ${plural(shard.calls, 'call')}</td>
<td class="num">${countText(shard.retries)}</td>
${errorsCell(shard.error === undefined ? [] : [shard.error])}
</tr>`;
}

function tableRows(table: TableRow): string {
  const behind = table.shards.flatMap((shard) => (shard.millisBehindLatest === undefined ? [] : [shard.millisBehindLatest]));
  const window = table.windowMs === undefined ? 'from the trim horizon' : `window ${durationText(table.windowMs)}`;
  return `<tbody>
<tr class="table" data-table="${escapeHtml(table.table)}" data-progress="${table.progress}">
<td class="name"><strong>${escapeHtml(table.table)}</strong><div class="muted">stream ${escapeHtml(table.stream)} · ${window}${table.catchingUp ? ' · <span class="busy">catching up</span>' : ''}</div></td>
<td class="muted">${plural(table.shards.length, 'shard')}</td>
<td class="num">${countText(table.rows)}${table.invalidRows > 0 ? ` <span class="warn">(${countText(table.invalidRows)} invalid)</span>` : ''}<div class="muted">${bytesText(table.bytes)}</div></td>
<td class="bar-cell">${bar(table.progress, 'table')}<div class="muted time-left">${leftText(table)}</div></td>
<td class="num">${behindText(behind.length === 0 ? undefined : Math.max(...behind))}</td>
<td class="num">${durationText(table.lagMs)}</td>
<td class="num">${countText(table.throttles)}</td>
<td class="num">${countText(table.retries)}</td>
${errorsCell(table.errors)}
</tr>
${table.shards.map((shard) => shardRow(table, shard)).join('\n')}
</tbody>`;
}

const STYLE = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{display:flex;align-items:baseline;gap:16px;padding:14px 24px;background:#1d2330;color:#fff}
header h1{font-size:20px;margin:0}header .muted{color:#b7bdc9}
main{padding:16px 24px}
.badge{padding:2px 10px;border-radius:10px;font-weight:600;font-size:12px}
.badge.ready{background:#2e9e5b}.badge.not-ready{background:#c93c3c}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:16px}
.card{background:#fff;border-radius:8px;padding:10px 16px;min-width:120px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card .value{font-size:22px;font-weight:600}.card .label{color:#667085;font-size:12px}
.problems{background:#fdecec;border:1px solid #f3b7b7;border-radius:8px;padding:8px 16px;margin-bottom:16px;color:#8c1d1d}
table.status{width:100%;border-collapse:collapse;background:#fff;border-radius:8px;overflow:hidden;box-shadow:0 1px 2px rgba(0,0,0,.08)}
table.status th{text-align:left;font-size:12px;color:#667085;font-weight:600;padding:8px 10px;border-bottom:1px solid #e4e7ec;background:#fafbfc}
table.status td{padding:6px 10px;border-bottom:1px solid #f0f1f4;vertical-align:top}
tr.table td{border-top:2px solid #e4e7ec;background:#fff}
tr.shard td{font-size:12px;background:#fcfcfd}tr.shard td.name{padding-left:28px}
.num{text-align:right;white-space:nowrap}.muted{color:#667085;font-size:12px}
.bar-cell{min-width:220px;white-space:nowrap}
.progress{display:inline-block;vertical-align:middle;width:160px;height:12px;background:#e4e7ec;border-radius:6px;overflow:hidden;margin-right:8px}
.progress.shard{height:8px;width:120px}
.progress .fill{height:100%;background:#3b7ddd}.progress.done .fill{background:#2e9e5b}
.percent{font-variant-numeric:tabular-nums;font-weight:600}
.ok{color:#2e9e5b}.error{color:#c93c3c;font-size:12px;max-width:480px;word-break:break-word}.warn{color:#b26b00}.busy{color:#3b7ddd}
footer{padding:8px 24px 24px;color:#667085;font-size:12px}
`;

export function renderStatusPage(model: StatusModel): string {
  const card = (label: string, value: string) => `<div class="card"><div class="value">${value}</div><div class="label">${label}</div></div>`;
  const rows = model.tables.reduce((sum, table) => sum + table.rows, 0);
  const problems =
    model.problems.length === 0
      ? ''
      : `<div class="problems"><strong>Not ready:</strong><ul>${model.problems.map((problem) => `<li>${escapeHtml(problem)}</li>`).join('')}</ul></div>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="${REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kinesql status</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>kinesql</h1><span class="badge ${model.ready ? 'ready">ready' : 'not-ready">not ready'}</span><span class="muted">version ${escapeHtml(model.version)} · ${escapeHtml(model.generatedAt.toISOString())} · refreshes every ${REFRESH_SECONDS} s</span></header>
<main>
${problems}
<section class="cards">
${card('sessions', countText(model.sessions))}
${card('statements answered', countText(model.statements.ok))}
${card('statements failed', countText(model.statements.error))}
${card('statements refused', countText(model.statements.refused))}
${card('tables', countText(model.tables.length))}
${card('rows held', countText(rows))}
</section>
<table class="status">
<thead><tr><th>Table / shard</th><th>Shards / state</th><th class="num">Rows</th><th>Window loaded</th><th class="num">Last read</th><th class="num">Lag</th><th class="num">Throttles</th><th class="num">Retries</th><th>Errors</th></tr></thead>
${model.tables.length === 0 ? '<tbody><tr><td colspan="9" class="muted">No stream tables are defined.</td></tr></tbody>' : model.tables.map(tableRows).join('\n')}
</table>
</main>
<footer>Loaded: the share of each table's window (or, without one, of the stream from its oldest record held) that the loaded records cover, as of each shard's last read; a table shows the mean of its shards. Time left follows the rate of the last minute. Lag: time since a shard was last read to its tip. Metrics for Prometheus: <a href="/metrics">/metrics</a>; readiness: <a href="/readyz">/readyz</a>.</footer>
</body>
</html>
`;
}
