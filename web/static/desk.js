/* powerdesk desk: charts as inline SVG and in-browser checks of retirement proofs.
   Served by powerdesk itself (no external file); data comes from JSON blocks in the page. */
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

function readJson(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

function fmt(v, places) {
  return Number(v).toLocaleString("en-GB", { maximumFractionDigits: places, minimumFractionDigits: 0 });
}

function niceTicks(lo, hi, n) {
  if (hi === lo) { hi = lo + 1; }
  const raw = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return out;
}

/* A frame with axes; returns scale functions. */
function frame(container, opts) {
  container.textContent = "";
  const W = 640, H = 300, m = { l: 64, r: 16, t: 14, b: opts.rotate ? 64 : 40 };
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "svg-chart", preserveAspectRatio: "xMidYMid meet" }, container);
  el("title", {}, svg).textContent = container.getAttribute("aria-label") || "chart";
  const [x0, x1] = opts.x, [y0, y1] = opts.y;
  const sx = (v) => m.l + ((v - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const sy = (v) => H - m.b - ((v - y0) / (y1 - y0 || 1)) * (H - m.t - m.b);
  const g = el("g", { class: "axes" }, svg);
  for (const t of niceTicks(y0, y1, 5)) {
    el("line", { x1: m.l, x2: W - m.r, y1: sy(t), y2: sy(t), class: "grid" }, g);
    el("text", { x: m.l - 6, y: sy(t) + 4, "text-anchor": "end" }, g).textContent = fmt(t, 1);
  }
  if (opts.xTicks) {
    for (const [v, label] of opts.xTicks) {
      const t = el("text", { x: sx(v), y: H - m.b + 16, "text-anchor": opts.rotate ? "end" : "middle" }, g);
      if (opts.rotate) t.setAttribute("transform", `rotate(-45 ${sx(v)} ${H - m.b + 16})`);
      t.textContent = label;
    }
  }
  el("line", { x1: m.l, x2: W - m.r, y1: sy(Math.max(y0, Math.min(0, y1))), y2: sy(Math.max(y0, Math.min(0, y1))), class: "axis" }, g);
  el("line", { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, class: "axis" }, g);
  if (opts.yLabel) {
    const t = el("text", { x: 12, y: (H - m.b + m.t) / 2, "text-anchor": "middle", class: "axis-label" }, g);
    t.setAttribute("transform", `rotate(-90 12 ${(H - m.b + m.t) / 2})`);
    t.textContent = opts.yLabel;
  }
  if (opts.xLabel) el("text", { x: (W + m.l) / 2, y: H - 4, "text-anchor": "middle", class: "axis-label" }, g).textContent = opts.xLabel;
  return { svg, sx, sy, W, H, m };
}

function legend(container, names) {
  const ul = document.createElement("ul");
  ul.className = "legend";
  names.forEach((n, i) => {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = `swatch s${i % 8}`;
    li.appendChild(sw);
    li.appendChild(document.createTextNode(n.replace(/_/g, " ")));
    ul.appendChild(li);
  });
  container.appendChild(ul);
}

function labelsEvery(labels, maxTicks) {
  const every = Math.max(1, Math.ceil(labels.length / maxTicks));
  return labels.map((l, i) => [i, l]).filter(([i]) => i % every === 0);
}

function lineChart(container, labels, series, opts) {
  const all = series.flatMap((s) => s.values.filter((v) => v !== null));
  const lo = Math.min(0, ...all), hi = Math.max(1e-9, ...all) * 1.05;
  const f = frame(container, { x: [0, Math.max(1, labels.length - 1)], y: [lo, hi], xTicks: labelsEvery(labels, 8), rotate: opts.rotate, yLabel: opts.yLabel });
  series.forEach((s, i) => {
    let d = "";
    s.values.forEach((v, j) => {
      if (v === null) return;
      if (opts.step) {
        d += d ? ` H${f.sx(j)} V${f.sy(v)}` : `M${f.sx(j)} ${f.sy(v)}`;
      } else {
        d += `${d ? " L" : "M"}${f.sx(j)} ${f.sy(v)}`;
      }
    });
    const p = el("path", { d, class: `line s${i % 8}` }, f.svg);
    el("title", {}, p).textContent = s.name;
  });
  legend(container, series.map((s) => s.name));
}

function barChart(container, labels, series, opts) {
  const all = series.flatMap((s) => s.values);
  const lo = Math.min(0, ...all), hi = Math.max(0, ...all) * 1.08 || 1;
  const f = frame(container, { x: [-0.5, labels.length - 0.5], y: [lo, hi], xTicks: labelsEvery(labels, 10), rotate: opts.rotate, yLabel: opts.yLabel });
  const slot = (f.sx(1) - f.sx(0)) * 0.8;
  const w = slot / series.length;
  series.forEach((s, i) => {
    s.values.forEach((v, j) => {
      const x = f.sx(j) - slot / 2 + i * w;
      const y = f.sy(Math.max(0, v)), h = Math.abs(f.sy(v) - f.sy(0));
      const r = el("rect", { x, y, width: Math.max(1, w - 1), height: Math.max(0.5, h), class: `bar s${i % 8}` }, f.svg);
      el("title", {}, r).textContent = `${labels[j]} · ${s.name.replace(/_/g, " ")}: ${fmt(v, 2)}${opts.unit ? " " + opts.unit : ""}`;
    });
  });
  legend(container, series.map((s) => s.name));
}

function localTime(iso, tz) {
  try {
    return new Date(iso).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: tz });
  } catch (e) {
    return iso.slice(11, 16);
  }
}

function drawCurve(container, data, idx) {
  const c = data.curves[idx];
  if (!c) { container.textContent = "No curve."; return; }
  const prices = c.prices_per_mwh.map(Number), qs = c.quantities_mw.map(Number);
  const sorted = prices.slice().sort((a, b) => a - b);
  // A price cap far above the rest would flatten the curve: clip it and say so.
  const top = sorted.length > 1 && sorted[sorted.length - 1] > 5 * Math.max(1, sorted[sorted.length - 2]) ? sorted[sorted.length - 2] * 1.25 : sorted[sorted.length - 1] * 1.05;
  const lo = Math.min(0, sorted[0]);
  const qmax = Math.max(1, ...qs) * 1.1;
  const ticks = niceTicks(0, qmax, 6).map((t) => [t, fmt(t, 0)]);
  const f = frame(container, { x: [0, qmax], y: [lo, top], xTicks: ticks, yLabel: `${data.currency}/MWh`, xLabel: "MW" });
  const order = prices.map((p, i) => i).sort((a, b) => prices[a] - prices[b]);
  let d = "";
  order.forEach((i, k) => {
    const y = f.sy(Math.min(prices[i], top)), x = f.sx(qs[i]);
    d += k === 0 ? `M${x} ${f.sy(lo)} V${y}` : ` H${x} V${y}`;
  });
  const last = order[order.length - 1];
  d += ` V${f.sy(Math.min(prices[last], top))}`;
  el("path", { d, class: "line s0 curve" }, f.svg);
  order.forEach((i) => {
    const dot = el("circle", { cx: f.sx(qs[i]), cy: f.sy(Math.min(prices[i], top)), r: 4, class: "dot s0" }, f.svg);
    el("title", {}, dot).textContent = `${fmt(qs[i], 1)} MW at ${fmt(prices[i], 2)} ${data.currency}/MWh`;
    if (prices[i] > top) {
      el("text", { x: f.sx(qs[i]) - 8, y: f.sy(top) + 4, class: "note", "text-anchor": "end" }, f.svg).textContent = `↑ ${fmt(prices[i], 0)} ${data.currency}/MWh`;
    }
  });
  const cap = document.createElement("p");
  cap.className = "muted small";
  cap.textContent = `${localTime(c.interval_start, data.tz)} (${data.tz}): ` + order.map((i) => `${fmt(qs[i], 1)} MW ≤ ${fmt(prices[i], 2)}`).join(" · ");
  container.appendChild(cap);
}

function drawSchedule(container, data) {
  const rows = data.schedule;
  const labels = rows.map((r) => localTime(r.interval_start, data.tz));
  const keys = ["market_mw", "ppa_mw", "grid_import_mw", "battery_discharge_mw", "battery_charge_mw"];
  Object.keys(rows[0] || {}).forEach((k) => { if (k.startsWith("job_") && k.endsWith("_it_mw")) keys.push(k); });
  const series = keys.filter((k) => rows.some((r) => Number(r[k] || 0) !== 0)).map((k) => ({ name: k, values: rows.map((r) => Number(r[k] || 0)) }));
  lineChart(container, labels, series, { step: true, yLabel: "MW" });
}

function initCharts() {
  document.querySelectorAll(".curve-chart").forEach((node) => {
    const data = readJson(node.dataset.source);
    const pick = document.querySelector(`.curve-pick[data-target="${node.id}"]`);
    const draw = () => drawCurve(node, data, pick ? Number(pick.value) : 0);
    if (pick) pick.addEventListener("change", draw);
    draw();
  });
  document.querySelectorAll(".schedule-chart").forEach((node) => drawSchedule(node, readJson(node.dataset.source)));
  document.querySelectorAll(".bar-chart").forEach((node) => {
    const d = readJson(node.dataset.source);
    barChart(node, d.labels, d.series, { unit: d.currency, yLabel: d.currency, rotate: d.labels.length > 6 });
  });
  document.querySelectorAll(".hours-chart").forEach((node) => {
    const rows = readJson(node.dataset.source);
    const labels = rows.map((r) => r.hour.slice(5).replace("T", " ") + "h");
    const series = ["issued_wh", "transferred_wh", "retired_wh"].map((k) => ({ name: k.replace("_wh", ""), values: rows.map((r) => (r[k] || 0) / 1e6) }));
    barChart(node, labels, series.filter((s) => s.values.some((v) => v)), { unit: "MWh", yLabel: "MWh", rotate: true });
  });
  document.querySelectorAll(".load-chart").forEach((node) => {
    const h = readJson(node.dataset.source).hourly;
    const labels = h.map((r) => r.interval_start.slice(5, 13).replace("T", " ") + "h");
    lineChart(node, labels, [
      { name: "load", values: h.map((r) => Number(r.load_mwh)) },
      { name: "carbon-free supply", values: h.map((r) => Number(r.carbon_free_supply_mwh)) },
      { name: "matched carbon-free", values: h.map((r) => Number(r.matched_carbon_free_mwh)) },
      { name: "CFE (incl. grid)", values: h.map((r) => Number(r.cfe_mwh)) },
    ], { yLabel: "MWh", rotate: true });
  });
  document.querySelectorAll(".cfe-chart").forEach((node) => {
    const d = readJson(node.dataset.source).cfe_by_day;
    barChart(node, d.map((r) => r.day), [{ name: "CFE score", values: d.map((r) => r.cfe * 100) }], { unit: "%", yLabel: "%" });
  });
  document.querySelectorAll(".backtest-chart").forEach((node) => {
    const d = readJson(node.dataset.source);
    const labels = d.days.map((r) => r.day.slice(5));
    const series = [{ name: "cumulative cost", values: d.days.map((r) => r.cumulative) }];
    if (d.days.some((r) => r.cumulative_pf !== null)) series.push({ name: "perfect foresight", values: d.days.map((r) => r.cumulative_pf) });
    lineChart(node, labels, series, { yLabel: d.currency });
    if (!d.days.some((r) => r.regret !== null)) return;
    const reg = document.createElement("div");
    reg.className = "chart";
    reg.setAttribute("aria-label", "Daily regret");
    node.appendChild(reg);
    barChart(reg, labels, [{ name: "daily regret", values: d.days.map((r) => r.regret || 0) }], { unit: d.currency, yLabel: d.currency });
  });
}

/* ---- RFC 6962 / 9162 inclusion proofs, checked here with WebCrypto ---- */

function b64bytes(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

function equal(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const LEAF = new Uint8Array([0]), NODE = new Uint8Array([1]);

/* RFC 9162 section 2.1.3.2: the root an inclusion path leads to, or null. */
async function rootFromInclusion(index, size, leaf, path) {
  if (index >= size) return null;
  let fn = index, sn = size - 1;
  let r = await sha256(concat(LEAF, leaf));
  for (const p of path) {
    if (sn === 0) return null;
    if ((fn & 1) === 1 || fn === sn) {
      r = await sha256(concat(NODE, p, r));
      if ((fn & 1) === 0) { while ((fn & 1) === 0 && fn !== 0) { fn >>= 1; sn >>= 1; } }
    } else {
      r = await sha256(concat(NODE, r, p));
    }
    fn >>= 1; sn >>= 1;
  }
  return sn === 0 ? r : null;
}

function parseCheckpoint(note) {
  const cut = note.indexOf("\n\n");
  const body = note.slice(0, cut + 1);
  const lines = body.split("\n");
  const sigs = note.slice(cut + 2).split("\n").filter((l) => l.startsWith("— ")).map((l) => {
    const parts = l.slice(2).split(" ");
    return { name: parts[0], bytes: b64bytes(parts[1]) };
  });
  return { origin: lines[0], size: Number(lines[1]), root: b64bytes(lines[2]), body, sigs };
}

async function checkSignature(cp, keys) {
  if (!crypto.subtle || !keys.length) return "no operator key to check the signature with";
  for (const sig of cp.sigs) {
    for (const k of keys) {
      try {
        const key = await crypto.subtle.importKey("raw", b64bytes(k.public_key_b64), { name: "Ed25519" }, false, ["verify"]);
        const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, sig.bytes.slice(4), new TextEncoder().encode(cp.body));
        if (ok) return `checkpoint signature verified with operator key ${k.key_id}`;
      } catch (e) {
        return "signature not checked: this browser has no Ed25519 in WebCrypto";
      }
    }
  }
  return "FAILED: no operator key signs this checkpoint";
}

async function verifyProofs() {
  const summary = document.getElementById("proof-summary");
  const sigStatus = document.getElementById("signature-status");
  const data = readJson("data-proofs");
  if (!summary || !data || !data.proofs.length) return;
  summary.innerHTML = '<span class="loading">Checking proofs…</span>';
  let ok = 0, bad = 0;
  try {
    const cp = parseCheckpoint(data.checkpoint);
    for (const p of data.proofs) {
      let good = false;
      try {
        const root = await rootFromInclusion(p.index, p.tree_size, b64bytes(p.leaf_b64), p.proof_b64.map(b64bytes));
        good = root !== null && p.tree_size === cp.size && equal(root, cp.root);
      } catch (e) {
        good = false;
      }
      good ? ok++ : bad++;
      const cell = document.querySelector(`#retirements tr[data-index="${p.index}"] .proof-state`);
      if (cell) cell.innerHTML = good ? '<span class="badge ok">verified</span>' : '<span class="badge bad">failed</span>';
    }
    const sig = await checkSignature(cp, data.keys);
    sigStatus.textContent = sig;
    sigStatus.className = sig.startsWith("FAILED") ? "bad-text small" : "muted small";
    summary.className = "proof-summary " + (bad ? "failed" : "verified");
    summary.textContent = bad
      ? `${bad} of ${ok + bad} retirement proofs failed against checkpoint ${cp.origin} size ${cp.size}`
      : `All ${ok} retirement proofs verified in this browser against checkpoint ${cp.origin} size ${cp.size}`;
  } catch (e) {
    summary.className = "proof-summary failed";
    summary.textContent = `Proof check failed: ${e.message}`;
  }
}

function initForms() {
  document.querySelectorAll("form[data-busy]").forEach((form) => {
    form.addEventListener("submit", () => {
      const button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; button.textContent = form.dataset.busy; }
      form.setAttribute("aria-busy", "true");
    });
  });
  const again = document.getElementById("reverify");
  if (again) again.addEventListener("click", verifyProofs);
}

document.addEventListener("DOMContentLoaded", () => {
  try { initCharts(); } catch (e) {
    document.querySelectorAll(".chart .loading").forEach((n) => { n.textContent = `Chart error: ${e.message}`; n.className = "bad-text"; });
  }
  initForms();
  verifyProofs();
});
