// Alarms of the key's scope: active ones to acknowledge or resolve (with a comment), and recent ones.
"use strict";
import { api, esc, fmtTime, header, lang, t } from "/static/common.js";

const TZ = "Asia/Shanghai";
const RECENT_DAYS = 7;
const state = { active: [], recent: [], stations: new Map() };

async function act(id, action, comment) {
  const response = await fetch(`/dashboard/alarms/${id}/${action}`, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Shanshui-Dashboard": "1" },
    body: JSON.stringify(comment ? { comment } : {}),
  });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail ?? detail; } catch { /* not JSON */ }
    throw new Error(detail);
  }
}

function row(a, actions) {
  const when = (iso) => (iso ? fmtTime(Date.parse(iso), TZ) : "—");
  const station = a.site_id ? `<a href="/station/${a.site_id}">${esc(state.stations.get(a.site_id) ?? a.site_id)}</a>` : "—";
  const buttons = actions ? `<form class="act" data-id="${a.id}"><label>${t("comment")} <input name="comment" maxlength="500"></label>
      ${a.state === "open" ? `<button type="submit" class="btn" value="ack">${t("ack")}</button>` : ""}
      <button type="submit" class="btn" value="resolve">${t("resolve")}</button></form>` : esc(a.resolve_comment ?? a.ack_comment ?? "");
  return `<tr data-alarm="${a.id}" data-state="${a.state}"><td>${esc(t(a.state))}<br><span class="muted">${esc(a.severity)} · ${esc(a.level)}</span></td>
    <td>${station}<br><span class="muted">${esc(a.subject)}</span></td><td>${esc(a.rule_id)}<br><span class="muted">${esc(a.detail)}</span></td>
    <td>${when(a.opened_at)}${a.acknowledged_at ? `<br><span class="muted">${t("ack")} ${when(a.acknowledged_at)} ${esc(a.acknowledged_by ?? "")}${a.ack_comment ? `: ${esc(a.ack_comment)}` : ""}</span>` : ""}${a.resolved_at ? `<br><span class="muted">${t("resolve")} ${when(a.resolved_at)} ${esc(a.resolved_by ?? "")}</span>` : ""}</td>
    <td>${buttons}</td></tr>`;
}

function table(list, actions) {
  if (!list.length) return `<p class="muted">${t("none")}</p>`;
  return `<div class="card scroll"><table><thead><tr><th>${t("state")}</th><th>${t("station")}</th><th>${t("rule")}</th><th>${t("time")} (${TZ})</th><th></th></tr></thead>
    <tbody>${list.map((a) => row(a, actions)).join("")}</tbody></table></div>`;
}

function render() {
  document.getElementById("content").innerHTML = `<h2>${t("active")}</h2>${table(state.active, true)}<h2>${t("recent")}</h2>${table(state.recent, false)}`;
  document.querySelectorAll("form.act").forEach((form) => form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = event.submitter?.value ?? "ack";
    const comment = form.elements.comment.value.trim();
    if (action === "resolve" && !comment) { document.getElementById("message").textContent = t("comment_needed"); return; }
    try {
      await act(form.dataset.id, action, comment);
      document.getElementById("message").textContent = "";
      await load();
      render();
    } catch (error) { document.getElementById("message").textContent = error.message; }
  }));
}

async function load() {
  const since = new Date(Date.now() - RECENT_DAYS * 86400e3).toISOString();
  const [active, recent] = await Promise.all([
    api("/api/v1/alarms?state=open&state=acknowledged&limit=500"),
    api(`/api/v1/alarms?state=resolved&since=${encodeURIComponent(since)}&limit=200`),
  ]);
  state.active = active;
  state.recent = recent;
}

async function main() {
  header("alarms");
  document.getElementById("title").textContent = t("alarm");
  try {
    const [sites] = await Promise.all([api("/api/v1/sites"), load()]);
    for (const s of sites) state.stations.set(s.id, s.name);
  } catch (error) { document.getElementById("message").textContent = error.message; return; }
  render();
  document.body.dataset.ready = "1";
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

main();
