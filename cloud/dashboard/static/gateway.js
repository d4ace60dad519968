// Technician's view of one gateway, for a phone: newest value per sensor with its age,
// stale values marked, device health; new readings arrive by server-sent events.
"use strict";
import { ApiError, api, esc, fmtAge, fmtTime, fmtValue, gatewaySignalHtml, gatewayStatusHtml, header, loadVocabulary, qname, t, zoneLabel } from "/static/common.js";

const STALE_MS = 5 * 60e3;  // no value for five minutes: the sensor or its bus needs a look
let TZ = "Asia/Shanghai";  // until the station says otherwise
const id = decodeURIComponent(location.pathname.split("/")[2] ?? "");
const latest = new Map();
let devices = [];
let gateway = null;  // this gateway's entry in /api/v1/gateways: presence and reported status

function render() {
  const now = Date.now();
  const byDevice = new Map();
  for (const r of latest.values()) (byDevice.get(r.device) ?? byDevice.set(r.device, []).get(r.device)).push(r);
  const health = new Map(devices.map((d) => [d.name, d]));
  const names = [...new Set([...byDevice.keys(), ...health.keys()])].sort();
  const status = `<section class="card gw-status"><h2>${t("outbox")} / ${t("uptime")}</h2>${gatewayStatusHtml(gateway?.status)}${gateway?.status?.config_version ? `<div>${t("config")}: <code data-field="config_version">${esc(gateway.status.config_version)}</code></div>` : ""}<div>${t("signal_quality")}: ${gatewaySignalHtml(gateway?.status ?? {})}</div></section>`;
  document.getElementById("content").innerHTML = status + (names.map((name) => {
    const d = health.get(name);
    const rows = (byDevice.get(name) ?? []).sort((a, b) => a.quantity.localeCompare(b.quantity));
    return `<section class="card"><h2>${esc(name)} <span class="${d?.health === "degraded" ? "stale" : "muted"}">${t(d?.health ?? "unknown")}</span></h2>
      ${d?.health_error ? `<p class="stale">${esc(d.health_error)}</p>` : ""}
      <div class="tiles">${rows.map((r) => {
        const stale = now - r.time_ms > STALE_MS;
        return `<div class="tile${stale ? " stale" : ""}" data-quantity="${esc(r.quantity)}" data-time-ms="${r.time_ms}"><div>${esc(qname(r.quantity))}</div>
          <div class="v">${fmtValue(r.value)} <small>${esc(r.unit)}</small></div>
          <div class="muted">${fmtTime(r.time_ms, TZ).slice(11)} · ${fmtAge(r.time_ms)}${stale ? ` · <span class="stale">${t("stale")}</span>` : ""}${r.quality !== "N" ? ` · ${esc(r.quality)}` : ""}</div></div>`;
      }).join("")}</div></section>`;
  }).join("") || `<p class="muted">${t("nodata")}</p>`);
}

async function main() {
  header("gateways");
  document.getElementById("title").textContent = `${t("technician")}: ${id}`;
  document.getElementById("meta").textContent = `${t("zone")} ${zoneLabel(TZ)}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/.test(id)) { document.getElementById("message").textContent = t("not_found"); return; }
  try {
    await loadVocabulary();
    const [devs, body, all] = await Promise.all([api(`/api/v1/gateways/${encodeURIComponent(id)}/devices`), api(`/api/v1/latest?gateway=${encodeURIComponent(id)}`), api("/api/v1/gateways")]);
    devices = devs;
    gateway = all.find((g) => g.id === id) ?? null;
    for (const r of body.series) latest.set(`${r.device}/${r.quantity}`, r);
    const station = body.series.find((r) => r.station !== null)?.station;
    if (station) {
      const site = await api(`/api/v1/sites/${station}`);
      TZ = site.time_zone;
      document.getElementById("meta").innerHTML = `<a href="/station/${site.id}">${esc(site.name)}</a> · ${t("zone")} ${esc(zoneLabel(TZ))}`;
    }
  } catch (error) {
    document.getElementById("message").textContent = error instanceof ApiError && error.status === 404 ? t("not_found") : error.message;
    return;
  }
  render();
  document.body.dataset.ready = "1";
  const source = new EventSource(`/api/v1/live?gateway=${encodeURIComponent(id)}`);
  source.addEventListener("reading", (event) => {
    const r = JSON.parse(event.data);
    const key = `${r.device}/${r.quantity}`;
    if ((latest.get(key)?.time_ms ?? 0) < r.time_ms) latest.set(key, r);
    document.body.dataset.lastLiveMs = String(r.time_ms);
  });
  setInterval(render, 1000);
}

main();
