// Station detail: charts of chosen quantities over a chosen range that always reaches now.
// Short ranges come from raw readings (flags included); longer ones from 1-min, 10-min,
// hourly or daily means, which the API serves from the rollups where they fit.
"use strict";
import { ApiError, api, choice, esc, fmtTime, fmtValue, header, loadVocabulary, localInput, parseLocal, positiveInt, qname, quantity, t, typeName, zoneLabel } from "/static/common.js";
import { drawChart, extraLegend, flagLegend } from "/static/chart.js";

const PRESETS = { "1h": 3600e3, "6h": 6 * 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3, "1y": 365 * 86400e3 };
const BUCKET_MS = { "1min": 60e3, "10min": 600e3, "1h": 3600e3, "1d": 86400e3 };
const LIMITS = { pm2_5: 75, pm10: 150, so2: 150, no2: 80, co: 4, o3: 200 };  // GB 3095-2012 grade II (24 h; O3 1 h)
const RAW_PAGE = 10000, RAW_PAGES = 6, MAX_SPAN = 5 * 365 * 86400e3;
const params = new URLSearchParams(location.search);
const id = positiveInt(location.pathname.split("/")[2]);
// range: a preset ending now, or "custom" (from the picker or a drag on a chart) between t0 and t1
const state = { site: null, series: [], chosen: [], range: "24h", preset: "24h", data: new Map(), shares: new Map(), rules: [], alarms: [], t0: 0, t1: 0 };

/** Raw readings up to 6 h, else means whose bucket keeps a chart near 1500 points at most. */
function bucketFor(span) {
  if (span <= 6 * 3600e3) return null;
  if (span <= 36 * 3600e3) return "1min";
  if (span <= 10 * 86400e3) return "10min";
  if (span <= 60 * 86400e3) return "1h";
  return "1d";
}
const endsNow = () => state.range !== "custom";

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

/** Bucket means, and per bucket the share of readings not flagged N, over a window cut on bucket edges. */
async function fetchBuckets(codes, t0, t1, bucket, flags = false) {
  // whole buckets (whole hours for hourly and daily means), so the API sums them from the rollups
  const edge = Math.min(BUCKET_MS[bucket], 3600e3);
  const start = Math.floor(t0 / edge) * edge, end = Math.ceil(t1 / edge) * edge;
  const q = new URLSearchParams({ station: id, start: new Date(start).toISOString(), end: new Date(end).toISOString(), bucket });
  if (flags) q.set("flags", "true");
  codes.forEach((c) => q.append("quantity", c));
  const body = await api(`/api/v1/aggregates?${q}`);
  const out = new Map(codes.map((c) => [c, []])), shares = new Map(codes.map((c) => [c, new Map()]));
  for (const s of body.series) {
    const list = out.get(s.quantity);
    for (const b of s.buckets) list.push({ t: b.start_ms, v: b.avg, lo: b.min, hi: b.max, n: b.count, q: "N" });
    // several devices measuring one quantity: their counts add up
    for (const f of s.flagged ?? []) {
      const m = shares.get(s.quantity), had = m.get(f.start_ms) ?? { t: f.start_ms, readings: 0, valid: 0 };
      m.set(f.start_ms, { t: f.start_ms, readings: had.readings + f.readings, valid: had.valid + f.valid });
    }
  }
  for (const list of out.values()) list.sort((a, b) => a.t - b.t);
  return { data: out, shares: new Map([...shares].map(([c, m]) => [c, [...m.values()].sort((a, b) => a.t - b.t)])) };
}

/** The newest reading of each quantity before ``t1``, so that a line of means reaches the end. */
async function lastBefore(codes, t0, t1) {
  if (endsNow()) {
    const q = new URLSearchParams({ station: id });
    codes.forEach((c) => q.append("quantity", c));
    return (await api(`/api/v1/latest?${q}`)).series.map((r) => ({ c: r.quantity, t: r.time_ms, v: r.value, q: r.quality }));
  }
  const pages = await Promise.all(codes.map((c) => api(`/api/v1/readings?${new URLSearchParams({ station: id, quantity: c, start: new Date(t0).toISOString(), end: new Date(t1).toISOString(), order: "desc", limit: 20 })}`)));
  return pages.flatMap((page) => {
    const r = page.readings.find((x) => x.quality === "N");
    return r ? [{ c: r.quantity, t: r.time_ms, v: r.value, q: r.quality }] : [];
  });
}

// the station's alarms opened before the end of the range (newest first), for alarm periods
async function fetchAlarms(t1) {
  const q = new URLSearchParams({ until: new Date(t1).toISOString(), limit: 500 });
  return api(`/api/v1/sites/${id}/alarms?${q}`);
}

async function load() {
  if (endsNow()) { state.t1 = Date.now(); state.t0 = state.t1 - PRESETS[state.range]; }
  [state.alarms] = await Promise.all([fetchAlarms(state.t1), loadSeries()]);
}

async function loadSeries() {
  const bucket = bucketFor(state.t1 - state.t0);
  state.shares = new Map();
  if (!state.chosen.length) { state.data = new Map(); return; }
  if (!bucket) { state.data = await fetchRaw(state.chosen, state.t0, state.t1); return; }
  // means end at the start of the bucket holding the end: the newest reading carries the line on
  const [{ data, shares }, newest] = await Promise.all([fetchBuckets(state.chosen, state.t0, state.t1, bucket, true), lastBefore(state.chosen, state.t0, state.t1)]);
  for (const r of newest) {
    const list = data.get(r.c);
    if (list && r.q === "N" && (!list.length || list[list.length - 1].t < r.t)) list.push({ t: r.t, v: r.v, q: r.q });
  }
  state.data = data;
  state.shares = shares;
}

function sourceLabel() {
  const bucket = bucketFor(state.t1 - state.t0);
  return { null: t("raw"), "1min": t("minute"), "10min": t("ten_min"), "1h": t("hourly"), "1d": t("daily_means") }[bucket];
}

function ruleLimits(c) {
  return state.rules.filter((r) => r.quantity === c).map((r) => ({ value: r.value, label: `${t("rule")} ${r.name || r.rule} ${r.direction === "above" ? ">" : "<"} ${fmtValue(r.value)}` }));
}

// a series alarm (subject gateway/device/quantity) on its quantity's chart; a station's or
// gateway's (geohazard, silence) on every chart of the station
function alarmPeriods(c) {
  return state.alarms.filter((a) => !a.subject.includes("/") || a.subject.split("/").pop() === c).map((a) => ({
    from: Date.parse(a.opened_at), to: a.resolved_at ? Date.parse(a.resolved_at) : state.t1, severity: a.severity,
    label: `${t("alarm")} ${a.rule_id}${a.level && a.level !== a.severity ? ` ${a.level}` : ""}: ${a.detail} (${t(a.state)})`,
  }));
}

function zoom(from, to) {
  state.range = "custom";
  state.t0 = Math.max(from, Date.now() - MAX_SPAN);
  state.t1 = Math.min(to, Date.now());
  refresh();
}

function render() {
  const tz = state.site.time_zone;
  const bucket = bucketFor(state.t1 - state.t0);
  document.getElementById("charts").innerHTML = state.chosen.map((c) => `<section class="card"><h2>${esc(qname(c))} <span class="muted">(${esc(quantity(c).unit)}) · ${esc(sourceLabel())}</span></h2><div class="chart" data-quantity="${esc(c)}"></div></section>`).join("");
  for (const c of state.chosen) {
    const box = document.querySelector(`.chart[data-quantity="${c}"]`);
    const limit = LIMITS[c] ? [{ value: LIMITS[c], label: t("limit") }] : [];
    if (c === "noise_level" && state.site.noise_zone) limit.push(...noiseLimits(state.site.noise_zone));
    drawChart(box, { q: quantity(c), label: qname(c), points: state.data.get(c) ?? [], t0: state.t0, t1: state.t1, tz, limits: limit,
      rules: ruleLimits(c), alarms: alarmPeriods(c), shares: state.shares.get(c) ?? [], bucketMs: bucket ? BUCKET_MS[bucket] : undefined,
      gapMs: bucket ? 2.5 * BUCKET_MS[bucket] : undefined, onZoom: zoom });
  }
}

function noiseLimits(zone) {
  const z = { 0: [50, 40], 1: [55, 45], 2: [60, 50], 3: [65, 55], "4a": [70, 55], "4b": [70, 60] }[zone];
  return z ? [{ value: z[0], label: `${t("limit")} ${t("day")}` }, { value: z[1], label: `${t("limit")} ${t("night")}` }] : [];
}

function controls() {
  const codes = [...new Set(state.series.map((s) => s.quantity))].sort();
  const tz = state.site.time_zone;
  document.getElementById("controls").innerHTML = `
    <div role="group" aria-label="${t("range")}">${t("range")}: ${Object.keys(PRESETS).map((r) => `<button type="button" class="btn" data-range="${r}" aria-pressed="${r === state.range}">${r}</button>`).join(" ")}</div>
    <form id="custom" class="filters" style="gap:6px 10px">
      <label>${t("from")} (${esc(tz)})<input type="text" name="from" required size="16" inputmode="numeric" placeholder="YYYY-MM-DD HH:MM" value="${localInput(state.t0, tz)}"></label>
      <label>${t("to")}<input type="text" name="to" required size="16" inputmode="numeric" placeholder="YYYY-MM-DD HH:MM" value="${localInput(state.t1, tz)}"></label>
      <button type="submit" class="btn" aria-pressed="${state.range === "custom"}">${t("apply")}</button>
      ${state.range === "custom" ? `<button type="button" class="btn" id="reset">${t("reset")} (${state.preset})</button>` : ""}
    </form>
    <fieldset style="border:0;padding:0;margin:0"><legend>${t("quantities")}</legend>${codes.map((c) => `<label style="display:inline-block;margin-right:10px"><input type="checkbox" value="${esc(c)}"${state.chosen.includes(c) ? " checked" : ""}> ${esc(qname(c))}</label>`).join("")}</fieldset>
    <button type="button" class="btn" id="csv">${t("csv")}</button> <span class="muted">${t("zoom_hint")}</span>`;
  document.querySelectorAll("#controls [data-range]").forEach((b) => b.addEventListener("click", () => { state.range = state.preset = b.dataset.range; refresh(); }));
  document.getElementById("custom").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target, from = parseLocal(form.from.value, tz), to = parseLocal(form.to.value, tz);
    if (from === null || to === null || to - from < 60e3) { document.getElementById("message").textContent = t("bad_param"); return; }
    document.getElementById("message").textContent = "";
    zoom(from, to);
  });
  document.getElementById("reset")?.addEventListener("click", () => { state.range = state.preset; refresh(); });
  document.querySelectorAll("#controls input[type=checkbox]").forEach((box) => box.addEventListener("change", () => {
    state.chosen = [...document.querySelectorAll("#controls input:checked")].map((i) => i.value);
    refresh();
  }));
  document.getElementById("csv").addEventListener("click", downloadCsv);
}

function syncUrl() {
  const q = new URLSearchParams({ range: state.range });
  if (state.range === "custom") {
    q.set("from", localInput(state.t0, state.site.time_zone).replace(" ", "T"));
    q.set("to", localInput(state.t1, state.site.time_zone).replace(" ", "T"));
    q.set("preset", state.preset);
  }
  state.chosen.forEach((c) => q.append("quantity", c));
  history.replaceState(null, "", `${location.pathname}?${q}`);
}

async function refresh() {
  if (endsNow()) { state.t1 = Date.now(); state.t0 = state.t1 - PRESETS[state.range]; }
  syncUrl();
  controls();
  const started = performance.now();
  await load();
  render();
  document.body.dataset.chartMs = (performance.now() - started).toFixed(0);
  document.body.dataset.chartRange = state.range === "custom" ? `custom:${Math.round(state.t0)}-${Math.round(state.t1)}` : state.range;
}

function downloadCsv() {
  const tz = state.site.time_zone;
  const rows = [["time", "time_zone", "quantity", "unit", "value", "min", "max", "count", "quality"]];
  for (const c of state.chosen) for (const p of state.data.get(c) ?? []) rows.push([fmtTime(p.t, tz).replace(" ", "T"), tz, c, quantity(c).unit, p.v, p.lo ?? "", p.hi ?? "", p.n ?? "", p.q]);
  const text = rows.map((r) => r.map((v) => (/[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : v)).join(",")).join("\n");
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text + "\n"], { type: "text/csv" }));
  a.download = `station-${id}-${state.range === "custom" ? localInput(state.t0, tz).replace(/[-: ]/g, "") : state.range}.csv`;
  a.click();
  URL.revokeObjectURL(a.href);
}

async function daily() {
  // local days of the last week: hourly means give the daily mean and the share of hours with data
  const tz = state.site.time_zone, end = Date.now(), start = end - 7 * 86400e3;
  if (!state.chosen.length) { document.getElementById("daily").textContent = ""; return; }
  const { data: hours } = await fetchBuckets(state.chosen, start, end, "1h");
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
    if (!list || !endsNow()) return;
    if (list.length && list[list.length - 1].t >= r.time_ms) return;
    list.push({ t: r.time_ms, v: r.value, q: r.quality });
    dirty = true;
  });
  setInterval(() => {
    if (!dirty || !endsNow()) return;
    dirty = false;
    state.t1 = Date.now();
    state.t0 = state.t1 - PRESETS[state.range];
    for (const list of state.data.values()) while (list.length && list[0].t < state.t0) list.shift();
    render();
  }, 1000);
}

async function main() {
  header("");
  document.getElementById("daily-title").textContent = t("daily");
  document.getElementById("legend").innerHTML = `${t("flags")}: ${flagLegend()} · ${extraLegend()} · ${t("gap")}`;
  if (id === null) { document.getElementById("message").textContent = t("not_found"); return; }
  const range = choice(params, "range", [...Object.keys(PRESETS), "custom"], "24h");
  const preset = choice(params, "preset", Object.keys(PRESETS), "24h");
  state.range = range.value;
  state.preset = range.value === "custom" ? preset.value : range.value;
  try {
    await loadVocabulary();
    state.site = await api(`/api/v1/sites/${id}`);
    [state.series, state.rules] = await Promise.all([api(`/api/v1/latest?station=${id}`).then((b) => b.series), api(`/api/v1/sites/${id}/rule-limits`)]);
  } catch (error) {
    document.getElementById("message").textContent = error instanceof ApiError && error.status === 404 ? t("not_found") : error.message;
    return;
  }
  const codes = new Set(state.series.map((s) => s.quantity));
  const asked = params.getAll("quantity").filter((c) => codes.has(c));
  let bad = range.bad || preset.bad || asked.length < params.getAll("quantity").length;
  if (state.range === "custom") {
    const from = parseLocal(params.get("from"), state.site.time_zone), to = parseLocal(params.get("to"), state.site.time_zone);
    if (from === null || to === null || to - from < 60e3) { bad = true; state.range = state.preset; } else { state.t0 = Math.max(from, Date.now() - MAX_SPAN); state.t1 = Math.min(to, Date.now()); }
  }
  if (bad) document.getElementById("message").textContent = t("bad_param");
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
