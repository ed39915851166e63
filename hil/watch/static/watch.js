// hil watch: the run list and a live page per run, drawn as SVG by this file alone.
// Data arrive as server-sent events; text from the store is only ever set as textContent.
"use strict";

// Up pulses red, down pulses blue, as in the PNG figures (matplotlib's tab:red and tab:blue).
const UP_COLOR = "#d62728";
const DOWN_COLOR = "#1f77b4";
const COLORS = ["#3c78d8", "#d9534f", "#2e9e44", "#9c27b0", "#f0a020", "#00897b", "#795548", "#607d8b"];
const SVG = "http://www.w3.org/2000/svg";
const PREFIXES = [[1e9, "G"], [1e6, "M"], [1e3, "k"], [1, ""], [1e-3, "m"], [1e-6, "µ"], [1e-9, "n"], [1e-12, "p"]];

// 3 significant digits with an SI prefix: eng(2e-8, "s") -> "20 ns".
function eng(value, unit, digits = 3) {
  if (value === null || value === undefined || !isFinite(value)) return "n/a";
  if (value === 0) return "0 " + unit;
  const a = Math.abs(value);
  const [scale, prefix] = PREFIXES.find(([s]) => a >= s * 0.9995) || PREFIXES[PREFIXES.length - 1];
  return Number((value / scale).toPrecision(digits)) + " " + prefix + unit;
}
function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "";
  const s = Math.round(seconds);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}
function when(t) { return t ? new Date(t * 1000).toLocaleString() : ""; }
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}
function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}
function connected(state) { document.getElementById("connection").textContent = state; }

// ------------------------------------------------------------------ charts
function ticks(lo, hi, n = 5, whole = false) {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = Math.max([1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw), whole ? 1 : 0);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  return out;
}
function extent(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (v !== null && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) { const pad = Math.abs(lo) * 0.05 || 1; return [lo - pad, hi + pad]; }
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}
// series: {name, color, points: [[x, y], ...], dots?: bool, err?: [[x, y, e], ...]}
function chart(host, spec) {
  const W = spec.width || 600, H = spec.height || 300, L = 64, R = 12, T = 22, B = 40;
  const xs = [], ys = [];
  for (const s of spec.series) for (const p of s.points) { xs.push(p[0]); ys.push(p[1]); }
  const [x0, x1] = spec.xrange || extent(xs), [y0, y1] = extent(ys);
  const X = (x) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const Y = (y) => H - B - ((y - y0) / (y1 - y0 || 1)) * (H - T - B);
  const root = svg("svg", { width: W, height: H, class: "chart", role: "img" });
  const title = svg("text", { x: L, y: 14, class: "title" });
  title.textContent = spec.title;
  root.append(title);
  for (const v of ticks(y0, y1)) {
    root.append(svg("line", { x1: L, x2: W - R, y1: Y(v), y2: Y(v), class: "grid" }));
    const t = svg("text", { x: L - 4, y: Y(v) + 4, "text-anchor": "end" });
    t.textContent = spec.yunit === undefined ? String(Number(v.toPrecision(4))) : eng(v, spec.yunit);
    root.append(t);
  }
  for (const v of ticks(x0, x1, 6, spec.xwhole)) {
    root.append(svg("line", { x1: X(v), x2: X(v), y1: H - B, y2: H - B + 4, class: "axis" }));
    const t = svg("text", { x: X(v), y: H - B + 16, "text-anchor": "middle" });
    t.textContent = spec.xunit === undefined ? String(Number(v.toPrecision(4))) : eng(v, spec.xunit);
    root.append(t);
  }
  root.append(svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
  root.append(svg("line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" }));
  const xl = svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle" });
  xl.textContent = spec.xlabel;
  const yl = svg("text", { x: 12, y: (T + H - B) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${(T + H - B) / 2})` });
  yl.textContent = spec.ylabel;
  root.append(xl, yl);
  for (const s of spec.series) {
    const ok = s.points.filter((p) => p[1] !== null && isFinite(p[1]));
    if (!ok.length) continue;
    // Dots as zero-length round-capped segments: one element however many points.
    const d = s.dots
      ? ok.map((p) => `M${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}h0`).join("")
      : ok.map((p, i) => `${i ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join("");
    root.append(svg("path", {
      d, fill: "none", stroke: s.color, "stroke-width": s.dots ? (s.size || 3) : 1.5,
      "stroke-linecap": "round", "stroke-linejoin": "round", opacity: s.opacity || 1,
    }));
    for (const [x, y, e] of s.err || []) {
      if (y === null || e === null) continue;
      root.append(svg("line", { x1: X(x), x2: X(x), y1: Y(y - e), y2: Y(y + e), stroke: s.color, "stroke-width": 1.5 }));
    }
  }
  const legend = el("div", { class: "legend" });
  spec.series.forEach((s) => { const i = el("i"); i.style.background = s.color; legend.append(el("span", {}, i, s.name)); });
  host.replaceChildren(root, legend);
}

// ------------------------------------------------------------------ the run list
function progressCells(run) {
  const p = run.progress;
  if (!p || run.status !== "running" || !p.total) return [el("td"), el("td")];
  const bar = el("span", { class: "bar" }, el("span"));
  bar.firstChild.style.width = Math.min(100, (100 * p.done) / p.total).toFixed(1) + "%";
  const text = ` ${Math.round(p.done)} of ${Math.round(p.total)} ${p.unit}`;
  return [el("td", {}, bar, text), el("td", { class: "num" }, p.eta_s !== null ? duration(p.eta_s) : "")];
}
function listPage(main) {
  main.replaceChildren(el("h1", {}, "Runs"), el("table", { id: "runs" }));
  const source = new EventSource("/api/runs/events");
  source.onopen = () => connected("live");
  source.onerror = () => connected("reconnecting");
  source.addEventListener("runs", (e) => {
    const runs = JSON.parse(e.data);
    const head = el("tr", {}, ...["id", "run", "protocol", "status", "bench", "started", "points", "progress", "ETA"]
      .map((h) => el("th", {}, h)));
    const rows = runs.map((r) => el("tr", { "data-run": r.id },
      el("td", { class: "num" }, String(r.id)),
      el("td", {}, el("a", { href: `/run/${r.id}` }, r.uid)),
      el("td", {}, r.protocol),
      el("td", {}, el("span", { class: `status ${r.status}` }, r.status)),
      el("td", {}, r.bench),
      el("td", {}, when(r.started)),
      el("td", { class: "num" }, String(r.points)),
      ...progressCells(r)));
    document.getElementById("runs").replaceChildren(head, ...rows);
    if (!runs.length) document.getElementById("runs").append(el("tr", {}, el("td", { colspan: 9 }, "no runs stored yet")));
  });
}

// ------------------------------------------------------------------ a run's page
const views = {
  symmetry: {
    reset(s) { s.pairs = []; s.windows = []; s.estimates = null; s.shape = null; },
    add(s, u) {
      s.pairs.push(...u.pairs); s.windows.push(...u.windows);
      if (u.estimates) s.estimates = u.estimates;
      if (u.shape) s.shape = u.shape;
    },
    draw(s, box, page) {
      const dev = page.device, cols = s.shape ? s.shape[s.shape.length - 1] : 1;
      const name = `device (${Math.floor(dev / cols)}, ${dev % cols})`;
      if (s.shape && box.select.options.length !== s.shape.reduce((a, b) => a * b, 1)) {
        box.select.replaceChildren(...Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, (_, k) =>
          el("option", { value: k }, `(${Math.floor(k / cols)}, ${k % cols})`)));
        box.select.value = String(dev);
      }
      const half = s.windows.length ? s.windows[0][0] / 2 : 0;  // a window's estimate sits at its centre
      chart(box.chart, {
        title: `Convergence of ${name}`, width: 720,
        xlabel: "up/down pair", ylabel: "conductance", yunit: "S",
        series: [
          { name: "read after the up pulse", color: UP_COLOR, points: s.pairs.map((p) => [p[0], p[1]]), opacity: 0.6 },
          { name: "read after the down pulse", color: DOWN_COLOR, points: s.pairs.map((p) => [p[0], p[2]]), opacity: 0.6 },
          { name: "window estimate ± std. error", color: "#1d2330", dots: true, size: 6,
            points: s.windows.map((w) => [w[0] - half, w[1]]), err: s.windows.map((w) => [w[0] - half, w[1], w[2]]) },
        ],
      });
      const e = s.estimates;
      if (!e || !s.shape) { box.table.replaceChildren(el("p", {}, "no window completed yet")); return; }
      const rows = [el("tr", {}, el("th"), ...Array.from({ length: cols }, (_, c) => el("th", { class: "num" }, `column ${c}`)))];
      for (let r = 0; r < e.mean.length / cols; r++) {
        rows.push(el("tr", {}, el("th", {}, `row ${r}`), ...Array.from({ length: cols }, (_, c) => {
          const k = r * cols + c;
          return el("td", { class: "num" + (e.converged[k] ? " converged" : ""), "data-device": k, "data-value": e.mean[k] },
            eng(e.mean[k], "S", 4), " ± ", eng(e.sem[k], "S", 2));
        })));
      }
      const done = e.converged.filter(Boolean).length;
      box.table.replaceChildren(el("p", {}, `Symmetry points after ${e.pair} pairs: ${done} of ${e.mean.length} devices converged (green)`),
        el("table", { class: "grid-table", id: "estimates" }, ...rows));
    },
    build(box, page) {
      box.select = el("select", { id: "device" });
      box.select.onchange = () => page.follow(Number(box.select.value));
      box.chart = el("div");
      box.table = el("div");
      box.root.append(el("h2", {}, "Symmetry point"), el("label", {}, "device ", box.select), box.chart, box.table);
    },
  },
  "jump-table": {
    reset(s) { s.reads = []; s.steps = []; },
    add(s, u) { s.reads.push(...u.reads); s.steps.push(...u.steps); },
    draw(s, box) {
      const devices = [...new Set(s.reads.map((r) => r[0]))].sort((a, b) => a - b);
      chart(box.traces, {
        title: "Conductance after each pulse", xlabel: "pulse", ylabel: "conductance", yunit: "S",
        series: devices.map((d, i) => ({ name: `device ${d}`, color: COLORS[i % COLORS.length],
          points: s.reads.filter((r) => r[0] === d).map((r) => [r[1], r[2]]) })),
      });
      chart(box.cloud, {
        title: "Change per pulse against the conductance it started from", xlabel: "conductance before the pulse",
        xunit: "S", ylabel: "change per pulse", yunit: "S",
        series: [[1, "up pulses", UP_COLOR], [-1, "down pulses", DOWN_COLOR]].map(([sign, name, color]) => ({
          name, color, dots: true, size: 2.5, opacity: 0.5,
          points: s.steps.filter((p) => p[3] === sign).map((p) => [p[1], p[2]]) })),
      });
      box.count.textContent = `${s.steps.length} steps measured on ${devices.length} devices`;
      box.count.setAttribute("data-steps", s.steps.length);
    },
    build(box) {
      box.traces = el("div"); box.cloud = el("div"); box.count = el("p", { id: "steps" });
      box.root.append(el("h2", {}, "Jump table"), box.count, el("div", { class: "charts" }, box.traces, box.cloud));
    },
  },
  train: {
    reset(s) { s.epochs = []; },
    add(s, u) { s.epochs.push(...u.epochs); },
    draw(s, box) {
      const algorithms = [...new Set(s.epochs.map((e) => e.algorithm))];
      chart(box.chart, {
        title: "Test accuracy after each epoch", xlabel: "epoch", ylabel: "test accuracy (%)", xwhole: true,
        series: algorithms.map((a, i) => ({ name: a.toUpperCase(), color: COLORS[i % COLORS.length],
          points: s.epochs.filter((e) => e.algorithm === a).map((e) => [e.epoch, 100 * e.test_accuracy]) })),
      });
      // As the command line prints each epoch.
      box.lines.replaceChildren(...algorithms.map((a) => {
        const last = s.epochs.filter((e) => e.algorithm === a).at(-1);
        return el("li", { "data-algorithm": a, "data-epoch": last.epoch, "data-value": last.test_accuracy },
          `${a.toUpperCase()} epoch ${last.epoch}: test accuracy ${(100 * last.test_accuracy).toFixed(2)} %, ` +
          `train loss ${last.train_loss.toFixed(4)}`);
      }));
    },
    build(box) {
      box.chart = el("div"); box.lines = el("ul", { id: "epochs" });
      box.root.append(el("h2", {}, "Training"), box.chart, box.lines);
    },
  },
  points: {
    reset(s) { s.kinds = {}; },
    add(s, u) { s.kinds = u.kinds; },
    draw(s, box) { box.root.replaceChildren(el("h2", {}, "Points"), el("pre", {}, JSON.stringify(s.kinds, null, 1))); },
    build() {},
  },
};

function runFacts(run) {
  const facts = [el("span", { class: `status ${run.status}`, id: "status" }, run.status),
    el("span", {}, run.protocol), el("span", {}, `bench ${run.bench || "?"}`), el("span", {}, `started ${when(run.started)}`),
    el("span", { id: "points" }, `${run.points} points`)];
  const p = run.progress;
  if (p && p.total) {
    const pct = Math.min(100, (100 * p.done) / p.total).toFixed(1);
    facts.push(el("span", {}, `${Math.round(p.done)} of ${Math.round(p.total)} ${p.unit} (${pct} %)`));
    if (run.status === "running" && p.eta_s !== null) facts.push(el("span", { id: "eta" }, `ETA ${duration(p.eta_s)}`));
  }
  if (run.ended) facts.push(el("span", {}, `took ${duration(run.ended - run.started)}`));
  if (run.transactions) facts.push(el("span", { id: "transactions" },
    `${Math.round(run.transactions.per_second)} instrument transactions per second (${run.transactions.total} in all)`));
  return facts;
}

function folded(title, id, value) {
  return el("details", {}, el("summary", {}, title), el("pre", { id }, JSON.stringify(value, null, 1)));
}

function runPage(main, id) {
  const page = { device: Number(new URLSearchParams(location.search).get("device") || 0), source: null };
  const facts = el("p", { class: "facts" }), plots = el("section"), details = el("section");
  main.replaceChildren(el("h1", { id: "title" }, `Run ${id}`), facts, plots, details);
  let view = null, state = {}, box = null, drawn = true;
  function redraw() {
    if (drawn || !view) return;
    drawn = true;
    view.draw(state, box, page);
  }
  page.follow = (device) => {
    page.device = device;
    if (page.source) page.source.close();
    const source = page.source = new EventSource(`/api/runs/${id}/events?device=${device}`);
    source.onopen = () => connected("live");
    source.onerror = () => connected("reconnecting");
    source.addEventListener("reset", () => { if (view) view.reset(state); });
    source.addEventListener("points", (e) => {
      const u = JSON.parse(e.data);
      if (!view) {
        view = views[u.view]; box = { root: plots };
        view.reset(state); view.build(box, page);
      }
      view.add(state, u);
      drawn = false;
      requestAnimationFrame(redraw);
    });
    source.addEventListener("run", (e) => showRun(JSON.parse(e.data)));
  };
  function showRun(run) {
    document.getElementById("title").textContent = `Run ${run.uid}`;
    document.title = `${run.uid} (${run.status}) · hil watch`;
    facts.replaceChildren(...runFacts(run));
    const parts = [];
    if (run.error) parts.push(el("h2", {}, "Error"), el("pre", { class: "error" }, run.error));
    if (run.summary) parts.push(folded("Summary", "summary", run.summary));
    if (run.figures && run.figures.length) {
      parts.push(el("h2", {}, "Figures"));
      for (const f of run.figures) parts.push(el("img", { class: "figure", alt: f, src: `/api/runs/${run.id}/figures/${encodeURIComponent(f)}` }));
    }
    parts.push(folded("Parameters", "params", run.params));
    details.replaceChildren(...parts);
  }
  page.follow(page.device);
}

const main = document.getElementById("main");
const match = location.pathname.match(/^\/run\/(\d+)$/);
if (match) runPage(main, Number(match[1])); else listPage(main);
