// Overview: stations of the key's scope on an offline SVG map and as a ranked list.
"use strict";
import { api, choice, esc, fmtAge, fmtTime, header, loadVocabulary, ratingChip, t, typeName } from "/static/common.js";

const TYPES = ["air", "surface_water", "noise", "soil", "farm", "barn", "pond", "geohazard"];
const params = new URLSearchParams(location.search);
const state = { stations: [], outline: null, filters: {} };

function readFilters() {
  const type = choice(params, "type", TYPES, "");
  const region = params.get("region") ?? "";
  const regionOk = region === "" || /^[0-9]{2,12}$/.test(region);
  state.filters = { type: type.value, region: regionOk ? region : "", department: params.get("department") ?? "" };
  if (type.bad || !regionOk) document.getElementById("message").textContent = t("bad_param");
}

function drawFilters() {
  const departments = [...new Set(state.stations.map((s) => s.department))].sort();
  const regions = [...new Set(state.stations.map((s) => (s.region_code ?? "").slice(0, 6)).filter(Boolean))].sort();
  const options = (values, current, label = (v) => v) => [`<option value="">${t("all")}</option>`,
    ...values.map((v) => `<option value="${esc(v)}"${v === current ? " selected" : ""}>${esc(label(v))}</option>`)].join("");
  const f = state.filters;
  document.getElementById("filters").innerHTML = `
    <label>${t("region")}<select name="region">${options(regions, f.region)}</select></label>
    <label>${t("type")}<select name="type">${options(TYPES, f.type, typeName)}</select></label>
    <label>${t("department")}<select name="department">${options(departments, f.department)}</select></label>`;
  document.getElementById("filters").onchange = (event) => {
    state.filters[event.target.name] = event.target.value;
    const query = new URLSearchParams(Object.entries(state.filters).filter(([, v]) => v));
    history.replaceState(null, "", `${location.pathname}${query.size ? `?${query}` : ""}`);
    render();
  };
}

function visible() {
  const f = state.filters;
  return state.stations.filter((s) => (!f.type || s.monitoring_type === f.type)
    && (!f.region || (s.region_code ?? "").startsWith(f.region)) && (!f.department || s.department === f.department));
}

function gatewayState(station) {
  if (!station.gateways.length) return `<span class="dot unknown"></span>${t("unknown")}`;
  const down = station.gateways.filter((g) => g.presence !== "online");
  const cls = down.length ? "offline" : "online";
  return `<span class="dot ${cls}" aria-hidden="true"></span>${t(cls)}`;
}

function drawList(stations) {
  document.getElementById("count").textContent = `${stations.length} ${t("stations")}`;
  document.getElementById("stations").innerHTML = stations.map((s) => {
    const chip = ratingChip(s.rating);
    const latest = s.latest_at ? `${fmtTime(Date.parse(s.latest_at), s.time_zone)} (${fmtAge(Date.parse(s.latest_at))})` : t("nodata");
    return `<li data-station="${s.id}" data-level="${s.rating?.level ?? ""}" data-colour="${esc(chip.bg)}">
      <span class="chip" style="background:${chip.bg};color:${chip.fg}">${esc(chip.label)}</span>
      <span><a href="/station/${s.id}">${esc(s.name)}</a> <span class="sub">${esc(chip.detail)}</span><br>
        <span class="sub">${esc(typeName(s.monitoring_type))} · ${esc(s.department)} · ${esc(s.region_code ?? "—")} · ${esc(latest)}</span></span>
      <span class="sub">${gatewayState(s)}${s.alarm ? `<br><a class="alarm" href="/alarms">${t("alarm")} ${s.alarm.open + s.alarm.acknowledged}</a>` : ""}</span></li>`;
  }).join("");
}

function rings(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return geometry.coordinates;
  if (geometry.type === "MultiPolygon") return geometry.coordinates.flat();
  return [];
}

function drawMap(stations) {
  const outline = state.outline;
  const features = outline?.type === "FeatureCollection" ? outline.features : outline?.type === "Feature" ? [outline] : outline ? [{ geometry: outline }] : [];
  const paths = features.flatMap((f) => rings(f.geometry));
  const located = stations.filter((s) => Number.isFinite(s.latitude) && Number.isFinite(s.longitude));
  const lons = [...paths.flat().map((p) => p[0]), ...located.map((s) => s.longitude)];
  const lats = [...paths.flat().map((p) => p[1]), ...located.map((s) => s.latitude)];
  const box = document.getElementById("map");
  if (!lons.length) { box.innerHTML = `<p class="muted">${t("nodata")}</p>`; return; }
  let [x0, x1, y0, y1] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
  const pad = Math.max(x1 - x0, y1 - y0, 0.01) * 0.05;
  x0 -= pad; x1 += pad; y0 -= pad; y1 += pad;
  const k = Math.cos(((y0 + y1) / 2) * Math.PI / 180);  // equirectangular, true to scale at mid-latitude
  const width = 600, height = Math.max(200, Math.min(900, width * (y1 - y0) / ((x1 - x0) * k)));
  const px = (lon) => ((lon - x0) / (x1 - x0)) * width;
  const py = (lat) => ((y1 - lat) / (y1 - y0)) * height;
  const d = paths.map((ring) => `M${ring.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join("L")}Z`).join("");
  const dots = located.map((s) => {
    const chip = ratingChip(s.rating);
    return `<a href="/station/${s.id}"><circle cx="${px(s.longitude).toFixed(1)}" cy="${py(s.latitude).toFixed(1)}" r="6" fill="${chip.bg}"><title>${esc(s.name)}: ${esc(chip.label)} ${esc(chip.detail)}</title></circle></a>`;
  }).join("");
  box.innerHTML = `<svg class="map" viewBox="0 0 ${width} ${height.toFixed(0)}" role="img" aria-label="${esc(t("map"))}">
    <path class="outline" d="${d}"></path>${dots}</svg>`;
}

function render() {
  const stations = visible();
  drawList(stations);
  drawMap(stations);
}

async function load() {
  const [stations] = await Promise.all([api("/api/v1/overview"), state.outline ? null : api("/api/v1/map/outline").then((o) => { state.outline = o; })]);
  state.stations = stations;
}

async function main() {
  // the old single-gateway page's links (?gateway=<id>) lead to that gateway's view
  const gateway = params.get("gateway");
  if (gateway !== null && /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/.test(gateway)) {
    location.replace(`/gateway/${encodeURIComponent(gateway)}`);
    return;
  }
  header("overview");
  document.getElementById("map-title").textContent = t("map");
  document.getElementById("list-title").textContent = t("ranked");
  document.getElementById("stations").innerHTML = `<li>${t("loading")}</li>`;
  readFilters();
  try {
    await Promise.all([load(), loadVocabulary()]);
  } catch (error) {
    document.getElementById("message").textContent = error.message;
    return;
  }
  drawFilters();
  render();
  document.body.dataset.renderMs = performance.now().toFixed(0);
  document.body.dataset.ready = "1";
  // Gateways going on- or offline arrive as events; ratings are re-read (one small request) then.
  let pending = null;
  const live = new EventSource("/api/v1/live?readings=false");
  // a gateway going on- or offline redraws at once; new batches only with the minute's reload
  const presence = new Map();
  live.addEventListener("status", (event) => {
    const s = JSON.parse(event.data), before = presence.get(s.gateway);
    presence.set(s.gateway, s.presence);
    if (before === undefined || before === s.presence) return;
    pending ??= setTimeout(async () => { pending = null; await load(); render(); }, 2000);
  });
  setInterval(async () => { await load(); render(); }, 60000);
}

main();
