// See report.h. The page side: one HTML file, styles and the script inline, the data as JSON in a
// <script type="application/json"> element; the script draws the tables and the SVG plots when
// the page opens (no network, no library). It records any script error in #xai-errors (which the
// browser test reads) and sets <body data-rendered="ok"> once everything is drawn.
#include <nlohmann/json.hpp>

#include <string>

#include "framework/report/report.h"

namespace xai {
namespace {

const char* kStyle = R"XAI(
:root { --fg: #1d232b; --muted: #5d6875; --line: #d8dee6; --bg: #ffffff; --band: #f4f6f9;
        --accent: #0b5cad; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--fg); background: var(--bg); }
header { padding: 18px 28px 10px; border-bottom: 1px solid var(--line); background: var(--band); }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .sub { color: var(--muted); }
nav { margin-top: 8px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; font-weight: 600; }
main { padding: 8px 28px 40px; }
section { margin-top: 22px; }
h2 { font-size: 18px; margin: 0 0 8px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
.note { color: var(--muted); font-size: 13px; margin: 4px 0 8px; }
.scroll { overflow-x: auto; max-width: 100%; }
table.data { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 13px; }
table.data th, table.data td { padding: 4px 8px; border-bottom: 1px solid var(--line);
                               text-align: right; white-space: nowrap; }
table.data th { background: var(--band); position: sticky; top: 0; cursor: pointer;
                user-select: none; }
table.data th.text, table.data td.text { text-align: left; }
table.data th[data-dir="asc"]::after { content: " \25B2"; }
table.data th[data-dir="desc"]::after { content: " \25BC"; }
table.data td .ci { color: var(--muted); font-size: 11px; margin-left: 3px; }
table.data td.best { font-weight: 700; background: #e7f3e9; }
table.data td.best::before { content: "\2605 "; color: #2f7d3a; }
table.data tr:hover td { background: #fbf7e6; }
.controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 6px 0 10px; }
.controls label { color: var(--muted); }
select, input, button { font: inherit; padding: 3px 6px; }
.sample { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; margin: 8px 0; }
.sample .head { display: flex; gap: 16px; flex-wrap: wrap; margin-bottom: 6px; }
.sample .head b { font-family: ui-monospace, monospace; }
.sample .target { color: #2f7d3a; font-weight: 600; }
.heat { display: grid; grid-template-columns: 150px 1fr; gap: 3px 10px; align-items: start; }
.heat .who { color: var(--muted); font-size: 12px; text-align: right; padding-top: 2px; }
.heat .toks { font-family: ui-monospace, monospace; font-size: 12.5px; line-height: 1.9;
              white-space: pre-wrap; word-break: break-word; }
.grids { display: flex; flex-wrap: wrap; gap: 10px 14px; }
.grids .tile .who { color: var(--muted); font-size: 12px; margin-bottom: 2px; }
.tok { border-radius: 2px; padding: 1px 0; }
.tok.off { color: #9aa3ad; }
.tok.ev { border-bottom: 2px solid #2f7d3a; }
.tok.seg { border-left: 2px solid #5b6470; margin-left: 2px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; margin: 4px 0; }
.legend span::before { content: ""; display: inline-block; width: 12px; height: 3px;
                       margin-right: 5px; vertical-align: middle; background: var(--c); }
.plots { display: flex; flex-wrap: wrap; gap: 18px; }
.plot { border: 1px solid var(--line); border-radius: 6px; padding: 6px; }
.plot .title { font-weight: 600; font-size: 13px; margin: 0 0 2px 4px; }
svg text { font: 11px system-ui, sans-serif; fill: var(--fg); }
svg .axis { stroke: #9aa3ad; stroke-width: 1; }
svg .grid { stroke: #eef1f5; stroke-width: 1; }
pre { background: var(--band); border: 1px solid var(--line); padding: 8px; overflow: auto;
      max-height: 420px; font-size: 12px; }
.kv td.text { white-space: normal; word-break: break-all; max-width: 900px; }
#xai-errors { color: #b00020; }
.sig { color: #2f7d3a; font-weight: 600; }
)XAI";

const char* kScript = R"XAI(
'use strict';
(function () {
  const errors = document.getElementById('xai-errors');
  function fail(message) {
    errors.hidden = false;
    errors.textContent += message + '\n';
  }
  window.addEventListener('error', (e) => fail('error: ' + e.message));
  const D = JSON.parse(document.getElementById('xai-data').textContent);
  const app = document.getElementById('app');

  // ---- small helpers ------------------------------------------------------------------------
  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'text') n.textContent = v;
      else if (k === 'on') for (const [ev, f] of Object.entries(v)) n.addEventListener(ev, f);
      else n.setAttribute(k, v);
    }
    for (const k of kids.flat()) if (k !== null && k !== undefined) n.append(k);
    return n;
  }
  const NS = 'http://www.w3.org/2000/svg';
  function sv(tag, attrs, ...kids) {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') n.textContent = v;
      else if (v !== undefined && v !== null) n.setAttribute(k, v);
    }
    for (const k of kids.flat()) if (k) n.append(k);
    return n;
  }
  function fmt(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return '-';
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
    return v.toFixed(digits === undefined ? 3 : digits);
  }
  function colour(i) { return 'hsl(' + ((i * 137.508) % 360).toFixed(1) + ', 62%, 44%)'; }
  function heat(v) {
    if (v === null || v === undefined) return '';
    const a = Math.min(1, Math.abs(v));
    return 'rgba(' + (v >= 0 ? '214, 48, 39' : '33, 102, 172') + ', ' + (0.08 + 0.82 * a).toFixed(3) + ')';
  }
  const metricDefs = {};
  for (const m of (D.metrics || [])) metricDefs[m.name] = m;
  function arrow(m) { return metricDefs[m] ? (metricDefs[m].higher ? ' \u2191' : ' \u2193') : ''; }
  function section(id, title, ...kids) {
    return el('section', { id: id }, el('h2', { text: title }), ...kids);
  }

  // A table whose columns sort on a click: cols [{key, label, text, title}], rows of cells
  // {v: sort value, node or text}.
  function sortable(id, cols, rows) {
    const table = el('table', { class: 'data', id: id });
    const head = el('tr');
    const body = el('tbody');
    function draw() {
      body.replaceChildren(...rows.map((r) => el('tr', {}, r.map((c, i) => {
        const td = el('td', { class: (cols[i].text ? 'text ' : '') + (c.best ? 'best' : ''),
                              title: c.title });
        td.append(c.node !== undefined ? c.node : (c.t !== undefined ? c.t : fmt(c.v)));
        return td;
      }))));
    }
    cols.forEach((c, i) => {
      const th = el('th', { class: c.text ? 'text' : '', title: c.title, text: c.label });
      th.addEventListener('click', () => {
        const dir = th.dataset.dir === 'desc' ? 'asc' : 'desc';
        head.querySelectorAll('th').forEach((h) => delete h.dataset.dir);
        th.dataset.dir = dir;
        const s = dir === 'asc' ? 1 : -1;
        rows.sort((a, b) => {
          const x = a[i].v, y = b[i].v;
          if (x === y) return 0;
          if (x === null || x === undefined) return 1;
          if (y === null || y === undefined) return -1;
          return (x < y ? -1 : 1) * s;
        });
        draw();
      });
      head.append(th);
    });
    table.append(el('thead', {}, head), body);
    draw();
    return el('div', { class: 'scroll' }, table);
  }

  // ---- a run ----------------------------------------------------------------------------------
  function metricNames() {
    const seen = new Set();
    for (const r of D.summary) for (const k of Object.keys(r.statistics || {})) seen.add(k);
    return (D.metrics || []).map((m) => m.name).filter((m) => seen.has(m));
  }

  function summarySection() {
    const metrics = metricNames();
    const cols = [{ label: 'method', text: true }, { label: 'model', text: true },
                  { label: 'n', title: 'samples explained' }, { label: 'failed' }];
    for (const m of metrics) {
      cols.push({ label: m + arrow(m), title: (metricDefs[m] || {}).description });
    }
    cols.push({ label: 's/sample', title: 'seconds per sample (lower is better)' },
              { label: 'peak MB', title: 'largest peak extra memory of one explanation' },
              { label: 'fwd', title: 'forward passes per sample' },
              { label: 'bwd', title: 'backward passes per sample' },
              { label: 'settings', text: true });
    // The best mean per (model, metric), by the metric's direction.
    const best = {};
    for (const r of D.summary) {
      for (const m of metrics) {
        const s = (r.statistics || {})[m];
        if (!s || s.mean === null || r.explainer === 'random') continue;
        const key = r.model + '\u0000' + m, hi = metricDefs[m].higher;
        if (!(key in best) || (hi ? s.mean > best[key] : s.mean < best[key])) best[key] = s.mean;
      }
    }
    const rows = D.summary.map((r) => {
      const cells = [{ v: r.explainer, t: r.explainer }, { v: r.model, t: r.model },
                     { v: r.samples, t: String(r.samples) }, { v: r.failures, t: String(r.failures) }];
      for (const m of metrics) {
        const s = (r.statistics || {})[m];
        if (!s) { cells.push({ v: null, t: '-' }); continue; }
        const node = el('span', {}, fmt(s.mean),
                        el('span', { class: 'ci', text: '[' + fmt(s.ci95[0]) + ', ' + fmt(s.ci95[1]) + ']' }));
        cells.push({ v: s.mean, node: node, best: best[r.model + '\u0000' + m] === s.mean && r.explainer !== 'random',
                     title: 'n ' + s.n + ', IQ mean ' + fmt(s.iq_mean) + ', sd ' + fmt(s.std) });
      }
      cells.push({ v: r.seconds_per_sample, t: fmt(r.seconds_per_sample) },
                 { v: r.peak_mb, t: fmt(r.peak_mb, 1) },
                 { v: r.forward_passes, t: fmt(r.forward_passes, 1) },
                 { v: r.backward_passes, t: fmt(r.backward_passes, 1) },
                 { v: r.settings, t: r.settings || '' });
      return cells;
    });
    const st = D.statistics || {};
    return section('summary', 'Summary',
      el('p', { class: 'note', text: 'Each metric: mean over the samples, and its ' +
        (st.ci || 'bootstrap 95% interval') + ' (' + (st.resamples || '?') + ' resamples, seed ' +
        (st.seed === undefined ? '?' : st.seed) + ') in brackets. \u2191 higher is better, \u2193 lower ' +
        'is better; \u2605 the best method per model and metric (random excluded). Click a column ' +
        'to sort; hover a header for what the metric measures.' }),
      sortable('summary-table', cols, rows),
      el('div', { class: 'note' }, (D.metrics || []).filter((m) => metrics.includes(m.name)).map(
        (m) => el('div', {}, el('b', { text: m.name + arrow(m.name) + ': ' }), m.description))));
  }

  function tokensView(s, values, starts) {
    const box = el('div', { class: 'toks' });
    const T = Math.min(s.tokens.length, s.prompt_len || s.tokens.length);
    const begins = new Set(starts || []);
    for (let t = 0; t < T; ++t) {
      const on = s.explain[t] === 1;
      const v = values ? values[t] : null;
      const cls = 'tok' + (on ? '' : ' off') + (s.evidence && s.evidence[t] ? ' ev' : '') +
        (begins.has(t) ? ' seg' : '');
      const span = el('span', { class: cls, title: on && v !== null && v !== undefined ? fmt(v, 3) : 'not explained' },
                      s.tokens[t]);
      if (on && v !== null && v !== undefined) span.style.background = heat(v);
      box.append(span);
    }
    return box;
  }

  function gridView(s, values) {
    const G = s.grid, c = 12;
    const g = sv('svg', { width: G * c, height: G * c, class: 'patches' });
    for (let i = 0; i < G * G; ++i) {
      const v = values ? values[i + 1] : null;
      const r = sv('rect', { x: (i % G) * c, y: Math.floor(i / G) * c, width: c - 1, height: c - 1,
                             fill: v === null || v === undefined ? '#eee' : heat(v),
                             stroke: s.evidence && s.evidence[i + 1] ? '#2f7d3a' : 'none' });
      r.append(sv('title', { text: v === null || v === undefined ? 'not explained' : fmt(v, 3) }));
      g.append(r);
    }
    return g;
  }

  function samplesSection() {
    const models = D.models.filter((m) => m.samples.length > 0);
    const wrap = el('div', { id: 'samples-list' });
    const pickModel = el('select', { id: 'samples-model' }, models.map((m, i) => el('option', { value: i, text: m.name })));
    const search = el('input', { id: 'samples-search', type: 'search', placeholder: 'search id, text or target' });
    const info = el('span', { class: 'note', id: 'samples-page' });
    const prev = el('button', { text: '\u2190 previous' }), next = el('button', { text: 'next \u2192' });
    const per = 4;
    let page = 0;
    function matching() {
      const m = models[Number(pickModel.value)];
      if (!m) return [[], null];
      const q = search.value.trim().toLowerCase();
      const list = q ? m.samples.filter((s) => s.id.toLowerCase().includes(q) ||
        s.target.toLowerCase().includes(q) || s.tokens.join('').toLowerCase().includes(q)) : m.samples;
      return [list, m];
    }
    function draw() {
      const [list, m] = matching();
      const pages = Math.max(1, Math.ceil(list.length / per));
      page = Math.min(page, pages - 1);
      wrap.replaceChildren(...list.slice(page * per, page * per + per).map((s) => {
        const card = el('div', { class: 'sample' });
        const head = el('div', { class: 'head' }, el('span', {}, 'sample ', el('b', { text: s.id })),
                        el('span', {}, 'target ', el('span', { class: 'target', text: JSON.stringify(s.target) })));
        if (s.evidence) head.append(el('span', { class: 'note', text: s.grid ? 'evidence outlined' : 'evidence underlined' }));
        card.append(head);
        // Text: one row of tokens per method; an image: one patch grid per method, side by side.
        const grid = el('div', { class: s.grid ? 'grids' : 'heat' });
        for (const e of m.explainers) {
          if (!(e in s.relevance)) continue;
          const met = s.metrics[e] || {};
          const tip = Object.entries(met).map(([k, v]) => k + ' ' + fmt(v)).join(', ');
          const who = el('div', { class: 'who', title: tip, text: e });
          if (s.grid) grid.append(el('div', { class: 'tile' }, who, gridView(s, s.relevance[e])));
          else grid.append(who, tokensView(s, s.relevance[e], (s.segments || {})[e]));
        }
        card.append(grid);
        return card;
      }));
      info.textContent = 'page ' + (page + 1) + ' of ' + pages + ' (' + list.length + ' samples' +
        (m && m.samples_total > m.samples.length ? '; the first ' + m.samples.length + ' of ' + m.samples_total + ' are here' : '') + ')';
    }
    pickModel.addEventListener('change', () => { page = 0; draw(); });
    search.addEventListener('input', () => { page = 0; draw(); });
    prev.addEventListener('click', () => { page = Math.max(0, page - 1); draw(); });
    next.addEventListener('click', () => { page += 1; draw(); });
    draw();
    return section('samples', 'Samples',
      el('p', { class: 'note', text: 'Each method\u2019s relevance on the prompt\u2019s tokens, scaled by its largest |value| ' +
        'over the explained tokens: red supports the target, blue opposes it; grey tokens are not explained. ' +
        'Hover a method\u2019s name for its metrics on the sample, a token for its value. ' +
        'A method at segment granularity (words, sentences) shows each segment\u2019s relevance on its tokens, ' +
        'a bar where each segment starts.' }),
      el('div', { class: 'controls' }, el('label', { text: 'model' }), pickModel, search, prev, next, info), wrap);
  }

  // ---- plots ---------------------------------------------------------------------------------
  function plotBox(title, node) { return el('div', { class: 'plot' }, el('div', { class: 'title', text: title }), node); }

  function quantile(sorted, q) {
    const pos = (sorted.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  }

  function boxPlot(model, metric) {
    const names = model.explainers.filter((e) => ((model.metric_values[e] || {})[metric] || []).length > 0);
    const W = 560, left = 150, rowH = 20, H = names.length * rowH + 34;
    let lo = Infinity, hi = -Infinity;
    for (const e of names) for (const v of model.metric_values[e][metric]) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (!(hi > lo)) { hi = lo + 1; }
    const x = (v) => left + (W - left - 16) * (v - lo) / (hi - lo);
    const g = sv('svg', { width: W, height: H, class: 'boxplot', role: 'img' });
    for (let k = 0; k <= 4; ++k) {
      const v = lo + (hi - lo) * k / 4;
      g.append(sv('line', { x1: x(v), x2: x(v), y1: 4, y2: H - 22, class: 'grid' }),
               sv('text', { x: x(v), y: H - 8, 'text-anchor': 'middle', text: fmt(v, 2) }));
    }
    names.forEach((e, i) => {
      const v = model.metric_values[e][metric].slice().sort((a, b) => a - b);
      const q1 = quantile(v, 0.25), q2 = quantile(v, 0.5), q3 = quantile(v, 0.75);
      const y = 8 + i * rowH, c = colour(model.explainers.indexOf(e));
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      g.append(sv('text', { x: left - 8, y: y + 11, 'text-anchor': 'end', text: e }),
               sv('line', { x1: x(v[0]), x2: x(v[v.length - 1]), y1: y + 7, y2: y + 7, stroke: c }),
               sv('rect', { x: x(q1), y: y + 1, width: Math.max(1, x(q3) - x(q1)), height: 12,
                            fill: c, 'fill-opacity': 0.25, stroke: c }),
               sv('line', { x1: x(q2), x2: x(q2), y1: y + 1, y2: y + 13, stroke: c, 'stroke-width': 2 }),
               sv('circle', { cx: x(mean), cy: y + 7, r: 2.5, fill: '#000' },
                  sv('title', { text: e + ': mean ' + fmt(mean) + ', median ' + fmt(q2) + ', IQR ' + fmt(q1) + '\u2013' + fmt(q3) + ', n ' + v.length })));
    });
    return g;
  }

  function linePlot(model, key, label) {
    const names = model.explainers.filter((e) => model.curves[e] && model.curves[e][key]);
    if (names.length === 0) return null;
    const W = 340, H = 230, L = 40, B = 30, R = 22, Tp = 8;
    const x = (f) => L + (W - L - R) * f, y = (p) => H - B - (H - B - Tp) * p;
    const g = sv('svg', { width: W, height: H, class: 'curve', role: 'img' });
    for (let k = 0; k <= 4; ++k) {
      g.append(sv('line', { x1: L, x2: W - R, y1: y(k / 4), y2: y(k / 4), class: 'grid' }),
               sv('text', { x: L - 4, y: y(k / 4) + 4, 'text-anchor': 'end', text: (k / 4).toFixed(2) }),
               sv('text', { x: x(k / 4), y: H - B + 14, 'text-anchor': 'middle', text: (k * 25) + '%' }));
    }
    g.append(sv('line', { x1: L, x2: L, y1: Tp, y2: H - B, class: 'axis' }),
             sv('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axis' }),
             sv('text', { x: (L + W) / 2, y: H - 3, 'text-anchor': 'middle', text: label }));
    for (const e of names) {
      const c = model.curves[e];
      const pts = c.fractions.map((f, i) => x(f).toFixed(1) + ',' + y(c[key][i] || 0).toFixed(1)).join(' ');
      g.append(sv('polyline', { points: pts, fill: 'none', stroke: colour(model.explainers.indexOf(e)), 'stroke-width': 1.6 },
                  sv('title', { text: e })));
    }
    return g;
  }

  function heatmap(model) {
    const n = model.explainers.length, c = 26, L = 150, Tp = 110;
    const g = sv('svg', { width: L + n * c + 10, height: Tp + n * c + 10, class: 'heatmap', role: 'img' });
    model.explainers.forEach((e, i) => {
      g.append(sv('text', { x: L - 6, y: Tp + i * c + c / 2 + 4, 'text-anchor': 'end', text: e }),
               sv('text', { x: 0, y: 0, transform: 'translate(' + (L + i * c + c / 2 + 4) + ',' + (Tp - 6) + ') rotate(-60)', text: e }));
      for (let j = 0; j < n; ++j) {
        const v = model.correlation[i][j];
        const r = sv('rect', { x: L + j * c, y: Tp + i * c, width: c - 1, height: c - 1,
                               fill: v === null ? '#eee' : heat(v) },
                     sv('title', { text: e + ' vs ' + model.explainers[j] + ': ' + fmt(v, 2) }));
        g.append(r);
        if (v !== null) g.append(sv('text', { x: L + j * c + c / 2, y: Tp + i * c + c / 2 + 4, 'text-anchor': 'middle', 'font-size': 9, text: v.toFixed(1) }));
      }
    });
    return g;
  }

  function bars(model, field, label) {
    const rows = D.summary.filter((r) => r.model === model.name && r[field] !== null && r[field] !== undefined);
    const W = 420, L = 150, h = 16, H = rows.length * (h + 4) + 10;
    const top = Math.max(...rows.map((r) => r[field]), 1e-12);
    const g = sv('svg', { width: W, height: H, class: 'bars', role: 'img' });
    rows.forEach((r, i) => {
      const w = (W - L - 70) * r[field] / top;
      g.append(sv('text', { x: L - 6, y: i * (h + 4) + 12, 'text-anchor': 'end', text: r.explainer }),
               sv('rect', { x: L, y: i * (h + 4), width: Math.max(1, w), height: h, fill: colour(model.explainers.indexOf(r.explainer)) }),
               sv('text', { x: L + w + 4, y: i * (h + 4) + 12, text: fmt(r[field], 3) + ' ' + label }));
    });
    return g;
  }

  function plotsSection() {
    const out = section('plots', 'Plots');
    const metrics = metricNames();
    const pickModel = el('select', { id: 'plots-model' }, D.models.map((m, i) => el('option', { value: i, text: m.name })));
    const pickMetric = el('select', { id: 'plots-metric' }, metrics.map((m) => el('option', { value: m, text: m + arrow(m) })));
    const area = el('div', { id: 'plots-area' });
    function draw() {
      const m = D.models[Number(pickModel.value)];
      if (!m) return;
      const parts = [];
      const legend = el('div', { class: 'legend' }, m.explainers.map((e, i) => {
        const s = el('span', { text: e });
        s.style.setProperty('--c', colour(i));
        return s;
      }));
      if (pickMetric.value) {
        parts.push(el('h3', { text: 'Distribution of ' + pickMetric.value + ' per method' }),
                   el('p', { class: 'note', text: (metricDefs[pickMetric.value] || {}).description || '' }),
                   el('div', { id: 'plot-box' }, boxPlot(m, pickMetric.value)));
      }
      const curves = [['morf', 'deletion, most relevant first (MoRF)'], ['lerf', 'deletion, least relevant first (LeRF)'],
                      ['insertion', 'insertion, most relevant first']]
        .map(([k, label]) => { const p = linePlot(m, k, 'share of explained tokens'); return p ? plotBox('target probability: ' + label, p) : null; })
        .filter((p) => p);
      if (curves.length) {
        parts.push(el('h3', { text: 'Deletion and insertion curves (mean over samples)' }), legend,
                   el('div', { class: 'plots', id: 'plot-curves' }, curves));
      }
      parts.push(el('h3', { text: 'Rank correlation between methods' }),
                 el('p', { class: 'note', text: 'Spearman\u2019s \u03c1 over each sample\u2019s explained tokens, the mean over samples.' }),
                 el('div', { id: 'plot-corr' }, heatmap(m)),
                 el('h3', { text: 'Time and memory per method' }),
                 el('div', { class: 'plots', id: 'plot-cost' },
                    plotBox('seconds per sample', bars(m, 'seconds_per_sample', 's')),
                    plotBox('peak extra memory', bars(m, 'peak_mb', 'MB'))));
      area.replaceChildren(...parts);
    }
    pickModel.addEventListener('change', draw);
    pickMetric.addEventListener('change', draw);
    out.append(el('div', { class: 'controls' }, el('label', { text: 'model' }), pickModel, el('label', { text: 'metric' }), pickMetric), area);
    draw();
    return out;
  }

  function comparisonsSection() {
    const list = D.comparisons || [];
    const metrics = [...new Set(list.map((c) => c.metric))];
    const pick = el('select', { id: 'comparisons-metric' }, metrics.map((m) => el('option', { value: m, text: m })));
    if (metrics.includes('ap')) pick.value = 'ap';
    const area = el('div');
    function draw() {
      const rows = list.filter((c) => c.metric === pick.value).map((c) => [
        { v: c.model, t: c.model }, { v: c.a, t: c.a }, { v: c.b, t: c.b }, { v: c.n, t: String(c.n) },
        { v: c.mean_diff, t: fmt(c.mean_diff) }, { v: c.effect_size, t: fmt(c.effect_size, 2) },
        { v: c.p_value, node: el('span', { class: c.p_value !== null && c.p_value < 0.05 ? 'sig' : '', text: fmt(c.p_value, 4) }) }]);
      area.replaceChildren(sortable('comparisons-table', [
        { label: 'model', text: true }, { label: 'A', text: true }, { label: 'B', text: true }, { label: 'n' },
        { label: 'mean A \u2212 B' }, { label: 'effect size', title: 'matched-pairs rank-biserial correlation' },
        { label: 'p', title: 'two-sided; green: p < 0.05 (not corrected for the number of pairs)' }], rows));
    }
    pick.addEventListener('change', draw);
    draw();
    return section('comparisons', 'Paired tests',
      el('p', { class: 'note', text: ((D.statistics || {}).paired_test || 'paired test') + ', on the samples both methods explained.' }),
      el('div', { class: 'controls' }, el('label', { text: 'metric' }), pick), area);
  }

  function kvTable(id, obj) {
    const t = el('table', { class: 'data kv', id: id });
    for (const [k, v] of Object.entries(obj || {})) {
      t.append(el('tr', {}, el('td', { class: 'text', text: k }),
                   el('td', { class: 'text', text: typeof v === 'string' ? v : JSON.stringify(v) })));
    }
    return t;
  }

  function provenanceSection() {
    const m = D.machine || {};
    return section('provenance', 'Provenance',
      el('p', { class: 'note', text: 'Config, commit, versions, world size, hosts and Slurm ids as the run recorded them.' }),
      kvTable('provenance-table', D.provenance),
      el('h3', { text: 'Machine' }), kvTable('machine-table', { cpu: m.cpu, threads: m.threads, matmul_gflops: m.matmul_gflops }),
      el('h3', { text: 'Config (resolved)' }), el('pre', { id: 'config', text: JSON.stringify(D.config, null, 2) }));
  }

  function renderRun() {
    document.title = 'xai report: ' + D.experiment;
    document.getElementById('title').textContent = D.experiment;
    document.getElementById('subtitle').textContent = D.samples + ' samples, ' + D.failures + ' failure(s), ' +
      (D.complete ? 'complete' : 'incomplete') + '; ' + D.models.map((m) => m.name).join(', ') + '; generated ' + D.generated;
    const nav = document.getElementById('nav');
    for (const [id, label] of [['summary', 'Summary'], ['plots', 'Plots'], ['samples', 'Samples'], ['comparisons', 'Paired tests'], ['provenance', 'Provenance']]) {
      nav.append(el('a', { href: '#' + id, text: label }));
    }
    app.append(summarySection(), plotsSection(), samplesSection(), comparisonsSection(), provenanceSection());
  }

  // ---- a sweep --------------------------------------------------------------------------------
  function renderSweep() {
    document.title = 'xai report: sweep ' + D.experiment;
    document.getElementById('title').textContent = 'sweep ' + D.experiment;
    const done = D.points.filter((p) => p.done).length;
    document.getElementById('subtitle').textContent = D.points.length + ' points, ' + done + ' finished; generated ' + D.generated;
    const metrics = new Set();
    for (const p of D.points) for (const r of (p.summary || [])) for (const k of Object.keys(r.statistics || {})) metrics.add(k);
    const order = ['ap', 'ar', 'token_f1', 'pointing', 'aopc_morf', 'comprehensiveness', 'sufficiency', 'spearman_occlusion'];
    const shown = order.filter((m) => metrics.has(m));
    const paramKeys = [...new Set(D.points.flatMap((p) => Object.keys(p.params || {})))];
    const cols = [{ label: 'point', text: true }, { label: 'model', text: true }, { label: 'dataset', text: true },
                  { label: 'explainer', text: true }, ...paramKeys.map((k) => ({ label: k, text: true })),
                  { label: 'status', text: true }, ...shown.map((m) => ({ label: m })), { label: 's/sample' }];
    const rows = [];
    for (const p of D.points) {
      const summary = p.summary && p.summary.length ? p.summary : [null];
      for (const r of summary) {
        const link = p.page ? el('a', { href: p.page, text: p.id }) : p.id;
        rows.push([{ v: p.id, node: link }, { v: p.model, t: (r && r.model) || p.model }, { v: p.dataset, t: p.dataset },
                   { v: p.explainer, t: (r && r.explainer) || p.explainer },
                   ...paramKeys.map((k) => ({ v: (p.params || {})[k], t: String((p.params || {})[k] === undefined ? '' : p.params[k]) })),
                   { v: p.done ? 1 : 0, t: p.done ? 'done' : (p.page ? 'partial' : 'not run') },
                   ...shown.map((m) => { const s = r && (r.statistics || {})[m]; return { v: s ? s.mean : null, t: s ? fmt(s.mean) + ' [' + fmt(s.ci95[0]) + ', ' + fmt(s.ci95[1]) + ']' : '-' }; }),
                   { v: r ? r.seconds_per_sample : null, t: fmt(r ? r.seconds_per_sample : null) }]);
      }
    }
    document.getElementById('nav').append(el('a', { href: '#points', text: 'Points' }));
    app.append(section('points', 'Points', el('p', { class: 'note', text: 'One row per point and result row; each point\u2019s id opens its own report.' }),
                       sortable('points-table', cols, rows)));
  }

  try {
    if (D.kind === 'sweep') renderSweep(); else renderRun();
    document.body.dataset.rendered = 'ok';
  } catch (e) {
    fail('render: ' + (e && e.stack ? e.stack : e));
  }
})();
)XAI";

}  // namespace

std::string report_page(const nlohmann::ordered_json& data) {
  // The data may hold any text (prompts): "</" would end the script element, so it is escaped as
  // "<\/", which JSON reads back as "</".
  std::string json = data.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  std::string safe;
  safe.reserve(json.size() + 64);
  for (size_t i = 0; i < json.size(); ++i) {
    if (json[i] == '<' && i + 1 < json.size() && json[i + 1] == '/') {
      safe += "<\\/";
      ++i;
    } else {
      safe += json[i];
    }
  }
  std::string page;
  page.reserve(safe.size() + 40000);
  page += "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  page += "<meta name=\"generator\" content=\"xai report\">\n<title>xai report</title>\n<style>";
  page += kStyle;
  page += "</style>\n</head>\n<body>\n<header><h1>xai report: <span id=\"title\"></span></h1>";
  page += "<div class=\"sub\" id=\"subtitle\"></div><nav id=\"nav\"></nav></header>\n";
  page += "<main id=\"app\"></main>\n<pre id=\"xai-errors\" hidden></pre>\n";
  page += "<script type=\"application/json\" id=\"xai-data\">";
  page += safe;
  page += "</script>\n<script>";
  page += kScript;
  page += "</script>\n</body>\n</html>\n";
  return page;
}

}  // namespace xai
