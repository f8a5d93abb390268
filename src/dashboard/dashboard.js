// kpistream wall dashboard: polls /api/state and renders it.
//
// Every value from Redis (customer ids, reasons, segment and channel names
// come from producers) reaches the page through textContent or
// setAttribute, never as markup: the browser shows it as text, whatever it
// holds. The server's Content-Security-Policy forbids inline script besides.
'use strict';

const STALE_MS = 10000;   // no flush for longer than this: stale
const RATE_SPAN_MS = 5000; // events/s over the flushes of the last ~5 s
const TILES = [
  // id, label, kpi in Redis, format; events_per_s is derived from meta
  ['events_per_s', 'Events / s', null, 'rate'],
  ['active_customers', 'Active customers', 'active_customers', 'count'],
  ['revenue', 'Revenue', 'revenue', 'money'],
  ['aov', 'Avg order value', 'aov', 'money'],
  ['csat', 'CSAT', 'csat', 'pct'],
  ['nps', 'NPS', 'nps', 'nps'],
  ['churn_rate', 'Churn rate', 'churn_rate', 'pct'],
  ['retention_rate', 'Retention rate', 'retention_rate', 'pct'],
  ['complaint_rate', 'Complaint rate', 'complaint_rate', 'pct'],
  ['response_time_p90', 'Response time p90', 'response_time_p90', 'ms'],
];
const TABLE_COLS = [ // of the shown window (src/redis/dash_read.c reads these and events)
  // Whole units in the tables: a column is ~60 px wide at 1920, and "165.…"
  // hid the number. The exact value is in the cell's title.
  ['active_customers', 'Active', 'count'], ['revenue', 'Revenue', 'money0'],
  ['aov', 'AOV', 'money0'], ['churn_rate', 'Churn', 'pct'], ['csat', 'CSAT', 'pct'],
];
const TABLE_ROWS = 9;

const state = { window: null, samples: [], seenAlerts: null, seenTriggers: null, built: false };

// ---------------------------------------------------------------- formatting

function num(v) {
  if (v === undefined || v === null || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function group(n) { // 1234567 -> "1,234,567"
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function compact(n, decimals) {
  const a = Math.abs(n);
  const units = [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'k']];
  for (const [size, unit] of units) {
    if (a >= size * (unit === 'k' ? 10 : 1)) {
      const x = n / size;
      return (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2)) + unit;
    }
  }
  return decimals ? n.toFixed(decimals) : group(n);
}

function fmt(v, kind) {
  const n = num(v);
  if (n === null) return '–';
  switch (kind) {
    case 'count': return compact(n, 0);
    case 'money': return Math.abs(n) < 1000 ? n.toFixed(2) : compact(n, 0);
    case 'money0': return compact(n, 0);
    case 'pct': return (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(1)) + '%';
    case 'nps': return (n > 0 ? '+' : '') + n.toFixed(Math.abs(n) >= 10 ? 0 : 1);
    case 'rate': return (n < 10 ? n.toFixed(1) : compact(n, 0)) + '/s';
    case 'ms':
      if (n < 1000) return n.toFixed(0) + ' ms';
      if (n < 60e3) return (n / 1e3).toFixed(1) + ' s';
      if (n < 3600e3) return (n / 60e3).toFixed(1) + ' min';
      if (n < 172800e3) return (n / 3600e3).toFixed(1) + ' h';
      return (n / 86400e3).toFixed(1) + ' d';
    default: return String(v);
  }
}

function clock(ms) {
  const n = num(ms);
  if (!n) return '–';
  const d = new Date(n);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((x) => String(x).padStart(2, '0')).join(':');
}

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? s + ' s' : s < 7200 ? Math.round(s / 60) + ' min' : Math.round(s / 3600) + ' h';
}

function reasons(text) { // "nps_detractor,low_csat" -> "nps detractor, low csat"
  return (text || '').split(',').filter(Boolean).map((r) => r.replace(/_/g, ' ')).join(', ');
}

// ---------------------------------------------------------------- DOM helpers

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function windowsOf(global) {
  const len = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 };
  return Object.keys(global || {})
    .filter((f) => f.startsWith('events:'))
    .map((f) => f.slice(7))
    .filter((w) => /^\d+[smhd]$/.test(w))
    .sort((a, b) => parseInt(a) * len[a.slice(-1)] - parseInt(b) * len[b.slice(-1)]);
}

function chooseWindow(wins) {
  const asked = new URLSearchParams(location.search).get('window');
  if (asked && wins.includes(asked)) return asked;
  return wins.includes('24h') ? '24h' : wins[0] || '24h';
}

// ---------------------------------------------------------------- events/s

// Samples at the pipeline's flush times (updated_at_ms), as `watch` does:
// the counter moves only at flushes, so our own polling clock would alias.
function eventsPerSecond(meta, now) {
  const t = num(meta.updated_at_ms), ev = num(meta.events_processed);
  if (t === null || ev === null) return null;
  const s = state.samples;
  if (s.length && (ev < s[s.length - 1][1] || t < s[s.length - 1][0])) s.length = 0;
  if (!s.length || s[s.length - 1][0] !== t) s.push([t, ev]);
  while (s.length > 2 && t - s[1][0] >= RATE_SPAN_MS) s.shift();
  if (now - t > STALE_MS) return 0;
  if (s.length < 2) return null;
  const [t0, e0] = s[0];
  return t > t0 ? (ev - e0) * 1000 / (t - t0) : null;
}

// Per-minute values of one tile from the history stream, oldest first.
function series(history, tile, win) {
  const pts = [];
  let prev = null;
  for (const h of history) {
    const t = parseInt(h.id, 10);
    if (tile[0] === 'events_per_s') {
      const ev = num(h.f.events_processed);
      if (prev && ev !== null && t > prev[0]) pts.push([t, Math.max(0, (ev - prev[1]) * 1000 / (t - prev[0]))]);
      if (ev !== null) prev = [t, ev];
    } else {
      const v = num(h.f[tile[2] + ':' + win]);
      if (v !== null) pts.push([t, v]);
    }
  }
  return pts;
}

function sparkline(svg, pts, now) {
  svg.replaceChildren();
  const W = 300, H = 44, from = now - 3600e3;
  const shown = pts.filter((p) => p[0] >= from);
  if (!shown.length) return;
  let lo = Math.min(...shown.map((p) => p[1])), hi = Math.max(...shown.map((p) => p[1]));
  if (hi === lo) { hi += 1; lo -= 1; }
  const xy = shown.map((p) => [((p[0] - from) / 3600e3) * W, H - 3 - ((p[1] - lo) / (hi - lo)) * (H - 6)]);
  const ns = 'http://www.w3.org/2000/svg';
  if (xy.length === 1) {
    const c = document.createElementNS(ns, 'circle');
    c.setAttribute('cx', xy[0][0].toFixed(1)); c.setAttribute('cy', xy[0][1].toFixed(1)); c.setAttribute('r', '3');
    svg.appendChild(c);
    return;
  }
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', xy.map((p) => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' '));
  svg.appendChild(line);
}

// ---------------------------------------------------------------- rendering

function buildTiles() {
  const box = document.getElementById('tiles');
  box.replaceChildren();
  for (const t of TILES) {
    const tile = el('div', { class: 'tile', id: 'tile-' + t[0] });
    tile.append(el('div', { class: 'label' }), el('div', { class: 'value' }, '–'));
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('viewBox', '0 0 300 44');
    svg.setAttribute('preserveAspectRatio', 'none');
    tile.append(svg, el('div', { class: 'others' }));
    box.appendChild(tile);
  }
}

function renderTiles(data, wins, win, rate, now) {
  const g = data.global || {};
  for (const t of TILES) {
    const tile = document.getElementById('tile-' + t[0]);
    const value = tile.querySelector('.value');
    const field = t[2] ? t[2] + ':' + win : 'events_per_s';
    const raw = t[2] ? g[field] : rate;
    tile.querySelector('.label').textContent = t[1] + (t[2] ? ' · ' + win : '');
    value.textContent = fmt(raw, t[3]);
    value.setAttribute('data-field', field);
    value.setAttribute('data-raw', raw === null || raw === undefined ? '' : String(raw));
    value.classList.toggle('none', num(raw) === null);
    const pts = series(data.history || [], t, win);
    if (num(raw) !== null) pts.push([now, num(raw)]); // the line runs up to now
    sparkline(tile.querySelector('svg'), pts, now);
    const others = tile.querySelector('.others');
    others.replaceChildren();
    if (t[2]) {
      for (const w of wins.filter((x) => x !== win)) {
        if (others.childNodes.length) others.append(' · ');
        others.append(w + ' ', el('b', {}, fmt(g[t[2] + ':' + w], t[3])));
      }
    } else {
      others.append('events · ' + win + ' ', el('b', {}, fmt(g['events:' + win], 'count')));
    }
  }
}

function renderTable(id, rows, win) {
  const table = document.getElementById(id);
  const head = el('tr');
  head.append(el('th', {}, id === 'segments' ? 'Segment' : 'Channel'));
  for (const c of TABLE_COLS) head.append(el('th', {}, c[1]));
  const body = [head];
  const sorted = rows.slice().sort((a, b) =>
    (num(b.kpis['revenue:' + win]) || 0) - (num(a.kpis['revenue:' + win]) || 0) || (a.name < b.name ? -1 : 1));
  for (const r of sorted.slice(0, TABLE_ROWS)) {
    const tr = el('tr');
    tr.append(el('td', { title: r.name }, r.name));
    for (const c of TABLE_COLS) {
      const raw = r.kpis[c[0] + ':' + win];
      tr.append(el('td', { title: raw === undefined || raw === null ? '' : String(raw) }, fmt(raw, c[2])));
    }
    body.push(tr);
  }
  if (sorted.length > TABLE_ROWS) {
    const tr = el('tr');
    tr.append(el('td', { class: 'more', colspan: String(TABLE_COLS.length + 1) }, '+ ' + (sorted.length - TABLE_ROWS) + ' more'));
    body.push(tr);
  }
  if (!rows.length) body.push(el('tr', {}, ''));
  table.replaceChildren(...body);
}

function renderRisk(risk) {
  document.getElementById('risk-title').textContent = 'At risk · ' + fmt(risk.count, 'count') + ' customers';
  const head = el('tr');
  for (const h of ['Customer', 'Score', 'Level', 'Reasons']) head.append(el('th', {}, h));
  const rows = [head];
  for (const c of risk.top || []) {
    const tr = el('tr', { class: 'risk-row' });
    tr.append(el('td', { class: 'customer', title: c.customer }, c.customer),
      el('td', {}, fmt(c.score, 'count')),
      el('td', { class: 'level-' + (c.level || 'low') }, c.level || '–'),
      el('td', {}, reasons(c.reasons) || '–'));
    rows.push(tr);
  }
  document.getElementById('risk').replaceChildren(...rows);
}

// Alerts and triggers, newest first; entries not seen in the previous poll
// are marked new (highlighted as they arrive; not on the first load).
function renderNotices(id, entries, seenKey, describe) {
  const list = document.getElementById(id);
  const seen = state[seenKey];
  const items = entries.map((e) => {
    const li = el('li', { 'data-id': e.id });
    if (seen && !seen.has(e.id)) li.classList.add('new');
    const [who, what] = describe(e.f);
    li.append(el('span', { class: 'when' }, clock(num(e.f.ts) || parseInt(e.id, 10))),
      el('span', { class: 'who', title: who }, who), el('span', { class: 'what' }, what));
    return li;
  });
  if (!items.length) items.push(el('li', { class: 'empty' }, 'none yet'));
  list.replaceChildren(...items);
  state[seenKey] = new Set(entries.map((e) => e.id));
}

function setStatus(kind, text, banner, bannerClass) {
  const s = document.getElementById('status');
  s.setAttribute('data-state', kind);
  s.textContent = text;
  const b = document.getElementById('banner');
  b.hidden = !banner;
  b.textContent = banner || '';
  b.className = bannerClass || '';
}

function render(st) {
  const data = st.data || {};
  const meta = data.meta || {};
  const now = st.now_ms;
  const wins = windowsOf(data.global);
  const win = chooseWindow(wins);
  if (!state.built) { buildTiles(); state.built = true; }
  document.getElementById('window-label').textContent =
    'window ' + win + (wins.length > 1 ? ' (others: ' + wins.filter((w) => w !== win).join(', ') + ')' : '');
  const rate = eventsPerSecond(meta, now);
  renderTiles(data, wins, win, rate, now);
  renderTable('segments', data.segments || [], win);
  renderTable('channels', data.channels || [], win);
  renderRisk(data.risk || {});
  renderNotices('alerts', data.alerts || [], 'seenAlerts',
    (f) => [f.customer || '', 'score ' + (f.score || '–') + ' · ' + reasons(f.reasons) + (f.segment ? ' · ' + f.segment : '')]);
  renderNotices('triggers', data.triggers || [], 'seenTriggers',
    (f) => [f.customer || '', (f.trigger || '').replace(/_/g, ' ') + (f.segment ? ' · ' + f.segment : '')]);
  document.getElementById('meta').textContent =
    fmt(meta.events_processed, 'count') + ' events · ' + fmt(meta.events_rejected, 'count') +
    ' rejected · last flush ' + clock(meta.updated_at_ms) + ' · ' + st.redis.url + ' ' + st.prefix;

  const updated = num(meta.updated_at_ms);
  if (!st.redis.ok) {
    setStatus('redis-down', 'REDIS UNREACHABLE',
      'Redis unreachable since ' + clock(st.redis.since_ms) + ' (' + st.redis.error + '). ' +
      (st.data ? 'Showing the values read at ' + clock(st.read_ms) + '.' : 'No values read yet.'));
  } else if (updated === null) {
    setStatus('no-data', 'NO DATA', 'No flush in Redis under ' + st.prefix + ' yet: is kpistream run writing to it?', 'warn');
  } else if (now - updated > STALE_MS) {
    setStatus('stale', 'STALE · ' + ago(now - updated),
      'Stale: no flush for ' + ago(now - updated) + ' (last at ' + clock(updated) + '). Is kpistream run running?', 'warn');
  } else {
    setStatus('live', 'LIVE', null);
  }
}

async function poll() {
  let wait = 1000;
  try {
    const r = await fetch('/api/state', { cache: 'no-store' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    const st = await r.json();
    wait = st.interval_ms || 1000;
    render(st);
  } catch (e) {
    setStatus('server-down', 'SERVER UNREACHABLE',
      'The dashboard server does not answer (' + e.message + '); retrying. Values shown may be old.');
  }
  setTimeout(poll, wait);
}

poll();
