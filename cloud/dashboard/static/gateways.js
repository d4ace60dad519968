// Gateways of the key's scope: presence and since when, last contact, devices and their health,
// outbox depth, uptime and clock sync as each gateway last reported them.
"use strict";
import { api, esc, fmtAge, fmtTime, gatewayStatusHtml, header, t } from "/static/common.js";

const TZ = "Asia/Shanghai";
const state = { gateways: [], devices: new Map() };

function when(iso) { return iso ? `${fmtTime(Date.parse(iso), TZ)} (${fmtAge(Date.parse(iso))})` : "—"; }

function render() {
  document.getElementById("content").innerHTML = `<div class="card scroll"><table><thead><tr>
    <th>${t("gateways")}</th><th>${t("station")}</th><th>${t("presence")}</th><th>${t("last_contact")} (${TZ})</th>
    <th>${t("devices")}: ${t("health")}</th><th>${t("outbox")} / ${t("uptime")}</th></tr></thead><tbody>
    ${state.gateways.map((g) => {
      const presence = g.presence ?? "unknown";
      const devices = state.devices.get(g.id) ?? [];
      return `<tr data-gateway="${esc(g.id)}"><td><a href="/gateway/${encodeURIComponent(g.id)}">${esc(g.id)}</a><br><span class="muted">${esc(g.tenant)}</span></td>
        <td>${esc(g.site ?? "—")}</td>
        <td><span class="dot ${presence}" aria-hidden="true"></span>${t(presence)}${g.presence_at ? `<br><span class="muted">${t("since")} ${when(g.presence_at)}</span>` : ""}</td>
        <td>${when(g.last_batch_at)}</td>
        <td>${devices.map((d) => `<div>${esc(d.name)}: <span class="${d.health === "degraded" ? "stale" : ""}">${t(d.health ?? "unknown")}</span>${d.health_error ? ` <span class="muted">(${esc(d.health_error)})</span>` : ""}</div>`).join("") || "—"}</td>
        <td class="gw-status">${gatewayStatusHtml(g.status)}</td></tr>`;
    }).join("")}</tbody></table></div>
    <p class="muted">${t("zone")} ${TZ}</p>`;
}

async function load() {
  state.gateways = await api("/api/v1/gateways");
  const lists = await Promise.all(state.gateways.map((g) => api(`/api/v1/gateways/${encodeURIComponent(g.id)}/devices`).catch(() => [])));
  state.gateways.forEach((g, i) => state.devices.set(g.id, lists[i]));
}

async function main() {
  header("gateways");
  document.getElementById("title").textContent = t("gateways");
  try { await load(); } catch (error) { document.getElementById("message").textContent = error.message; return; }
  render();
  document.body.dataset.ready = "1";
  const source = new EventSource("/api/v1/live?readings=false");
  source.addEventListener("status", (event) => {
    const s = JSON.parse(event.data);
    const g = state.gateways.find((x) => x.id === s.gateway);
    if (g) Object.assign(g, { presence: s.presence, presence_at: s.presence_at, last_batch_at: s.last_batch_at });
    render();
  });
}

main();
