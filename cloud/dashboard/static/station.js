// Station detail: charts of chosen quantities over a chosen range that always reaches now.
// Short ranges come from raw readings (flags included); longer ones from 1-min, 10-min,
// hourly or daily means, which the API serves from the rollups where they fit.
"use strict";
import { ApiError, api, choice, esc, fmtTime, fmtValue, header, loadVocabulary, positiveInt, qname, quantity, t, typeName, zoneLabel } from "/static/common.js";
import { drawChart, flagLegend } from "/static/chart.js";

const RANGES = { "1h": [3600e3, null], "6h": [6 * 3600e3, null], "24h": [86400e3, "1min"], "7d": [7 * 86400e3, "10min"], "30d": [30 * 86400e3, "1h"], "1y": [365 * 86400e3, "1d"] };
const BUCKET_MS = { "1min": 60e3, "10min": 600e3, "1h": 3600e3, "1d": 86400e3 };
const LIMITS = { pm2_5: 75, pm10: 150, so2: 150, no2: 80, co: 4, o3: 200 };  // GB 3095-2012 grade II (24 h; O3 1 h)
const RAW_PAGE = 10000, RAW_PAGES = 6;
const params = new URLSearchParams(location.search);
const id = positiveInt(location.pathname.split("/")[2]);
const state = { site: null, series: [], chosen: [], range: "24h", data: new Map(), t0: 0, t1: 0 };

async function fetchRaw(codes, t0, t1) {
  const out = new Map(codes.map((c) => [c, []]));
  let cursor = null;
  for (let i = 0; i < RAW_PAGES; i++) {
    const q = new URLSearchParams({ station: id, start: new Date(t0).toISOString(), end: new Date(t1).toISOString(), order: "desc", limit: RAW_PAGE });
    codes.forEach((c) => q.append("quantity", c));
    if (cursor) q.set("cursor", cursor);
    const page = await api(`/api/v1/readings?${q}`);
    for (const r of page.readings) out.get(r.quantity)?.push({ t: r.time_ms, v: r.value, q: r.quality });
    if (!page.has_more) break;
    cursor = page.next_cursor;
  }
  for (const list of out.values()) list.reverse();
  return out;
}

async function fetchBuckets(codes, t0, t1, bucket) {
  const q = new URLSearchParams({ station: id, start: new Date(t0).toISOString(), end: new Date(t1).toISOString(), bucket });
  codes.forEach((c) => q.append("quantity", c));
  const body = await api(`/api/v1/aggregates?${q}`);
  const out = new Map(codes.map((c) => [c, []]));
  for (const s of body.series) {
    const list = out.get(s.quantity);
    for (const b of s.buckets) list.push({ t: b.start_ms, v: b.avg, lo: b.min, hi: b.max, n: b.count, q: "N" });
  }
  // several devices measuring one quantity: keep time order
  for (const list of out.values()) list.sort((a, b) => a.t - b.t);
  return out;
}

async function load() {
  const [span, bucket] = RANGES[state.range];
  state.t1 = Date.now();
  state.t0 = state.t1 - span;
  if (!state.chosen.length) { state.data = new Map(); return; }
  if (!bucket) { state.data = await fetchRaw(state.chosen, state.t0, state.t1); return; }
  // means end at the start of the running bucket: the newest reading carries the line to now
  const q = new URLSearchParams({ station: id });
  state.chosen.forEach((c) => q.append("quantity", c));
  const [data, newest] = await Promise.all([fetchBuckets(state.chosen, state.t0, state.t1, bucket), api(`/api/v1/latest?${q}`)]);
  for (const r of newest.series) {
    const list = data.get(r.quantity);
    if (list && r.quality === "N" && (!list.length || list[list.length - 1].t < r.time_ms)) list.push({ t: r.time_ms, v: r.value, q: r.quality });
  }
  state.data = data;
}

function sourceLabel() {
  const bucket = RANGES[state.range][1];
  return { null: t("raw"), "1min": t("minute"), "10min": t("ten_min"), "1h": t("hourly"), "1d": t("daily_means") }[bucket];
}

function render() {
  const tz = state.site.time_zone;
  const bucket = RANGES[state.range][1];
  document.getElementById("charts").innerHTML = state.chosen.map((c) => `<section class="card"><h2>${esc(qname(c))} <span class="muted">(${esc(quantity(c).unit)}) · ${esc(sourceLabel())}</span></h2><div class="chart" data-quantity="${esc(c)}"></div></section>`).join("");
  for (const c of state.chosen) {
    const box = document.querySelector(`.chart[data-quantity="${c}"]`);
    const limit = LIMITS[c] ? [{ value: LIMITS[c], label: t("limit") }] : [];
    if (c === "noise_level" && state.site.noise_zone) limit.push(...noiseLimits(state.site.noise_zone));
    drawChart(box, { q: quantity(c), label: qname(c), points: state.data.get(c) ?? [], t0: state.t0, t1: state.t1, tz, limits: limit,
      gapMs: bucket ? 2.5 * BUCKET_MS[bucket] : undefined });
  }
}

function noiseLimits(zone) {
  const z = { 0: [50, 40], 1: [55, 45], 2: [60, 50], 3: [65, 55], "4a": [70, 55], "4b": [70, 60] }[zone];
  return z ? [{ value: z[0], label: `${t("limit")} ${t("day")}` }, { value: z[1], label: `${t("limit")} ${t("night")}` }] : [];
}

function controls() {
  const codes = [...new Set(state.series.map((s) => s.quantity))].sort();
  document.getElementById("controls").innerHTML = `
    <div role="group" aria-label="${t("range")}">${t("range")}: ${Object.keys(RANGES).map((r) => `<button type="button" class="btn" data-range="${r}" aria-pressed="${r === state.range}">${r}</button>`).join(" ")}</div>
    <fieldset style="border:0;padding:0;margin:0"><legend>${t("quantities")}</legend>${codes.map((c) => `<label style="display:inline-block;margin-right:10px"><input type="checkbox" value="${esc(c)}"${state.chosen.includes(c) ? " checked" : ""}> ${esc(qname(c))}</label>`).join("")}</fieldset>
    <button type="button" class="btn" id="csv">${t("csv")}</button>`;
  document.querySelectorAll("#controls [data-range]").forEach((b) => b.addEventListener("click", () => { state.range = b.dataset.range; refresh(); }));
  document.querySelectorAll("#controls input[type=checkbox]").forEach((box) => box.addEventListener("change", () => {
    state.chosen = [...document.querySelectorAll("#controls input:checked")].map((i) => i.value);
    refresh();
  }));
  document.getElementById("csv").addEventListener("click", downloadCsv);
}

function syncUrl() {
  const q = new URLSearchParams({ range: state.range });
  state.chosen.forEach((c) => q.append("quantity", c));
  history.replaceState(null, "", `${location.pathname}?${q}`);
}

async function refresh() {
  syncUrl();
  controls();
  const started = performance.now();
  await load();
  render();
  document.body.dataset.chartMs = (performance.now() - started).toFixed(0);
  document.body.dataset.chartRange = state.range;
}

function downloadCsv() {
  const tz = state.site.time_zone;
  const rows = [["time", "time_zone", "quantity", "unit", "value", "min", "max", "count", "quality"]];
  for (const c of state.chosen) for (const p of state.data.get(c) ?? []) rows.push([fmtTime(p.t, tz).replace(" ", "T"), tz, c, quantity(c).unit, p.v, p.lo ?? "", p.hi ?? "", p.n ?? "", p.q]);
  const text = rows.map((r) => r.map((v) => (/[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : v)).join(",")).join("\n");
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text + "\n"], { type: "text/csv" }));
  a.download = `station-${id}-${state.range}.csv`;
  a.click();
  URL.revokeObjectURL(a.href);
}

async function daily() {
  // local days of the last week: hourly means give the daily mean and the share of hours with data
  const tz = state.site.time_zone, end = Date.now(), start = end - 7 * 86400e3;
  if (!state.chosen.length) { document.getElementById("daily").textContent = ""; return; }
  const hours = await fetchBuckets(state.chosen, start, end, "1h");
  const days = new Map();
  for (const [c, list] of hours) for (const p of list) {
    const key = `${fmtTime(p.t, tz).slice(0, 10)}|${c}`;
    const d = days.get(key) ?? { sum: 0, n: 0 };
    d.sum += p.v; d.n += 1; days.set(key, d);
  }
  const dates = [...new Set([...days.keys()].map((k) => k.split("|")[0]))].sort().reverse().slice(0, 7);  // an 8th is cut by the window
  // today counts only the hours begun so far
  const nowLocal = fmtTime(end, tz);
  const hoursOf = (date) => (date === nowLocal.slice(0, 10) ? Number(nowLocal.slice(11, 13)) + 1 : 24);
  document.getElementById("daily").innerHTML = `<table><thead><tr><th>${t("date")}</th>${state.chosen.map((c) => `<th class="num">${esc(qname(c))} (${esc(quantity(c).unit)})</th><th class="num">${t("completeness")}</th>`).join("")}</tr></thead><tbody>
    ${dates.map((date) => `<tr><td>${date}</td>${state.chosen.map((c) => { const d = days.get(`${date}|${c}`); return d ? `<td class="num">${fmtValue(d.sum / d.n)}</td><td class="num">${Math.min(100, Math.round((d.n / hoursOf(date)) * 100))} %</td>` : "<td class=num>—</td><td class=num>0 %</td>"; }).join("")}</tr>`).join("")}</tbody></table>`;
}

function live() {
  const source = new EventSource(`/api/v1/live?station=${id}`);
  let dirty = false;
  source.addEventListener("reading", (event) => {
    const r = JSON.parse(event.data);
    const list = state.data.get(r.quantity);
    document.body.dataset.lastLiveMs = String(r.time_ms);
    if (!list) return;
    if (list.length && list[list.length - 1].t >= r.time_ms) return;
    list.push({ t: r.time_ms, v: r.value, q: r.quality });
    dirty = true;
  });
  setInterval(() => {
    if (!dirty) return;
    dirty = false;
    const span = RANGES[state.range][0];
    state.t1 = Date.now();
    state.t0 = state.t1 - span;
    for (const list of state.data.values()) while (list.length && list[0].t < state.t0) list.shift();
    render();
  }, 1000);
}

async function main() {
  header("");
  document.getElementById("daily-title").textContent = t("daily");
  document.getElementById("legend").innerHTML = `${t("flags")}: ${flagLegend()} · ${t("gap")}`;
  if (id === null) { document.getElementById("message").textContent = t("not_found"); return; }
  const range = choice(params, "range", Object.keys(RANGES), "24h");
  state.range = range.value;
  try {
    await loadVocabulary();
    state.site = await api(`/api/v1/sites/${id}`);
    state.series = (await api(`/api/v1/latest?station=${id}`)).series;
  } catch (error) {
    document.getElementById("message").textContent = error instanceof ApiError && error.status === 404 ? t("not_found") : error.message;
    return;
  }
  const codes = new Set(state.series.map((s) => s.quantity));
  const asked = params.getAll("quantity").filter((c) => codes.has(c));
  if (range.bad || asked.length < params.getAll("quantity").length) document.getElementById("message").textContent = t("bad_param");
  state.chosen = asked.length ? asked : [...codes].sort().slice(0, 3);
  const s = state.site;
  document.title = `山水 · ${s.name}`;
  document.getElementById("name").textContent = s.name;
  document.getElementById("meta").innerHTML = `${esc(typeName(s.monitoring_type))} · ${esc(s.region_code ?? "—")} · ${t("zone")} ${esc(zoneLabel(s.time_zone))} · ${[...new Set(state.series.map((x) => x.gateway))].map((g) => `<a href="/gateway/${encodeURIComponent(g)}">${esc(g)}</a>`).join(", ")}`;
  await refresh();
  document.body.dataset.ready = "1";
  live();
  daily();
}

main();
