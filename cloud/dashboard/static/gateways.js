// Gateways of the key's scope, from one request: presence and since when, last contact,
// devices and their health, and what each last reported: outbox depth and the age of its
// oldest unsent reading, uptime, clock sync, signal (NB-IoT), configuration version.
"use strict";
import { api, esc, fmtAge, fmtTime, gatewaySignalHtml, gatewayStatusHtml, header, t } from "/static/common.js";

const TZ = "Asia/Shanghai";
const state = { gateways: [] };

function when(iso) { return iso ? `${fmtTime(Date.parse(iso), TZ)} (${fmtAge(Date.parse(iso))})` : "—"; }

function render() {
  document.getElementById("content").innerHTML = `<div class="card scroll"><table><thead><tr>
    <th>${t("gateways")}</th><th>${t("station")}</th><th>${t("presence")}</th><th>${t("last_contact")} (${TZ})</th>
    <th>${t("devices")}: ${t("health")}</th><th>${t("outbox")} / ${t("uptime")}</th><th>${t("signal_quality")}</th><th>${t("config")}</th></tr></thead><tbody>
    ${state.gateways.map((g) => {
      const presence = g.presence ?? "unknown", s = g.status ?? {};
      return `<tr data-gateway="${esc(g.id)}"><td><a href="/gateway/${encodeURIComponent(g.id)}">${esc(g.id)}</a><br><span class="muted">${esc(g.tenant)}</span></td>
        <td>${esc(g.site ?? "—")}</td>
        <td><span class="dot ${presence}" aria-hidden="true"></span>${t(presence)}${g.presence_at ? `<br><span class="muted">${t("since")} ${when(g.presence_at)}</span>` : ""}</td>
        <td>${when(g.last_batch_at)}</td>
        <td>${(g.devices ?? []).map((d) => `<div>${esc(d.name)}: <span class="${d.health === "degraded" ? "stale" : ""}">${t(d.health ?? "unknown")}</span>${d.health_error ? ` <span class="muted">(${esc(d.health_error)})</span>` : ""}</div>`).join("") || "—"}</td>
        <td class="gw-status">${gatewayStatusHtml(s)}</td>
        <td class="gw-signal">${gatewaySignalHtml(s)}</td>
        <td class="gw-config">${s.config_version ? `<code data-field="config_version">${esc(s.config_version)}</code>` : `<span class="muted">—</span>`}</td></tr>`;
    }).join("")}</tbody></table></div>
    <p class="muted">${t("zone")} ${TZ}</p>`;
}

async function main() {
  header("gateways");
  document.getElementById("title").textContent = t("gateways");
  try { state.gateways = await api("/api/v1/gateways?devices=true"); } catch (error) { document.getElementById("message").textContent = error.message; return; }
  render();
  document.body.dataset.ready = "1";
  const source = new EventSource("/api/v1/live?readings=false");
  source.addEventListener("status", (event) => {
    const s = JSON.parse(event.data);
    const g = state.gateways.find((x) => x.id === s.gateway);
    if (!g || (g.presence === s.presence && g.presence_at === s.presence_at && g.last_batch_at === s.last_batch_at)) return;
    Object.assign(g, { presence: s.presence, presence_at: s.presence_at, last_batch_at: s.last_batch_at });
    render();
  });
}

main();
