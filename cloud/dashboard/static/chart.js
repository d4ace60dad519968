// A time chart of one quantity as hand-written SVG: units on the axis, a minimum span so
// that sensor resolution is not drawn as swings, flagged readings drawn apart and kept out
// of the scale, the share of flagged readings per bucket of means, gaps as gaps, limit
// lines of the standards and of alarm rules, alarm periods as bands, hover values, drag to zoom.
// No dependencies.
"use strict";
import { FLAGS, esc, flagName, fmtTime, fmtValue, t } from "/static/common.js";

// Smallest y span drawn per quantity, in its unit; others get 2 % of the vocabulary's range.
const MIN_SPAN = {
  air_temperature: 2, water_temperature: 1, soil_temperature: 1, relative_humidity: 5, air_pressure: 0.5,
  pm2_5: 20, pm10: 20, pm1_0: 10, so2: 10, no2: 10, co: 0.5, o3: 20, co2: 50, noise_level: 5,
  water_ph: 0.5, soil_ph: 0.5, dissolved_oxygen: 1, wind_speed: 2, wind_direction: 90, turbidity: 5,
  ammonia_nitrogen: 0.2, water_level: 0.1, soil_moisture: 5,
};

export function minSpan(q) { return MIN_SPAN[q.code] ?? Math.max((q.max - q.min) * 0.02, 1e-6); }

function niceStep(span, count) {
  const raw = span / count, mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
}

function timeTicks(t0, t1, tz) {
  const span = t1 - t0;
  const steps = [60e3, 300e3, 900e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3, 2 * 86400e3, 7 * 86400e3, 30 * 86400e3];
  const step = steps.find((s) => span / s <= 7) ?? 90 * 86400e3;
  // align on the station's local clock: offset of the zone at t0
  const local = Date.parse(fmtTime(t0, tz).replace(" ", "T") + "Z");
  const offset = local - Math.floor(t0 / 1000) * 1000;
  const first = Math.ceil((t0 + offset) / step) * step - offset;
  const ticks = [];
  for (let x = first; x <= t1; x += step) ticks.push(x);
  const label = (ms) => { const s = fmtTime(ms, tz); return step >= 86400e3 ? s.slice(5, 10) : span > 86400e3 ? s.slice(5, 16) : s.slice(11, 16); };
  return ticks.map((ms) => ({ ms, label: label(ms) }));
}

const RULE_COLOUR = "#8a4b00", SHARE_COLOUR = "#b3261e", SHARE_STRIP = 28, MIN_ZOOM_MS = 60e3;
const ALARM_COLOUR = { critical: "#b3261e", warning: "#c77700", info: "#5b6b63" };

/**
 * Draw ``points`` ({t, v, q, lo?, hi?}) of quantity ``q`` between ``t0`` and ``t1`` into ``box``.
 * ``limits`` are [{value, label}] of the standards, drawn only within the scale; ``rules`` are
 * [{value, label}] of alarm-rule thresholds, drawn apart and pinned to the edge when beyond it.
 * ``shares`` are [{t, readings, valid}] of buckets ``bucketMs`` long that hold readings not
 * flagged N. ``alarms`` are [{from, to, label, severity}]: periods an alarm was open (to: its
 * resolution, or the end when still open), drawn as bands behind the line.
 * ``onZoom(from, to)`` is called when a time range is dragged out on the plot.
 * Returns the SVG element.
 */
export function drawChart(box, { q, label, points, t0, t1, tz, limits = [], rules = [], shares = [], alarms = [], bucketMs, gapMs, onZoom }) {
  const W = 900, H = 260, L = 64, R = 12, T = 14, B = 30;
  const normal = points.filter((p) => p.q === "N");
  let lo = Infinity, hi = -Infinity;
  for (const p of normal) { lo = Math.min(lo, p.lo ?? p.v); hi = Math.max(hi, p.hi ?? p.v); }
  if (!Number.isFinite(lo)) { lo = q.min; hi = q.min + minSpan(q); }
  // an alarm rule's threshold near the data widens the scale, so that its line is seen in place
  const dataSpan = Math.max(hi - lo, minSpan(q));
  for (const r of rules) if (r.value > hi && r.value - hi <= dataSpan) hi = r.value; else if (r.value < lo && lo - r.value <= dataSpan) lo = r.value;
  const need = minSpan(q);
  if (hi - lo < need) { const mid = (hi + lo) / 2; lo = mid - need / 2; hi = mid + need / 2; }
  const step = niceStep(hi - lo, 5);
  lo = Math.floor(lo / step) * step; hi = Math.ceil(hi / step) * step;
  const x = (ms) => L + ((ms - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  const clampY = (v) => Math.max(T, Math.min(H - B, y(v)));
  // gaps: a step longer than 3 x the median step (and than gapMs) breaks the line
  const steps = normal.slice(1).map((p, i) => p.t - normal[i].t).sort((a, b) => a - b);
  const gap = Math.max(gapMs ?? 0, 3 * (steps[Math.floor(steps.length / 2)] ?? 60e3), 1);
  let line = "", band = "", prev = null;
  for (const p of normal) {
    line += `${prev === null || p.t - prev > gap ? "M" : "L"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
    prev = p.t;
  }
  const banded = normal.filter((p) => p.lo !== undefined && p.hi !== p.lo);
  if (banded.length) {
    prev = null;
    let seg = [];
    const flush = () => { if (seg.length) band += `M${seg.map((p) => `${x(p.t).toFixed(1)},${y(p.hi).toFixed(1)}`).join("L")}L${seg.reverse().map((p) => `${x(p.t).toFixed(1)},${y(p.lo).toFixed(1)}`).join("L")}Z`; seg = []; };
    // a raw reading carrying the line of means on to the end has no min-max: the band stops there
    for (const p of normal) { if (p.lo === undefined) continue; if (prev !== null && p.t - prev > gap) flush(); seg.push(p); prev = p.t; }
    flush();
  }
  const flagged = points.filter((p) => p.q !== "N");
  const marks = flagged.map((p) => `<rect x="${(x(p.t) - 3).toFixed(1)}" y="${(clampY(p.v) - 3).toFixed(1)}" width="6" height="6" fill="${FLAGS[p.q]?.colour ?? "#000"}" transform="rotate(45 ${x(p.t).toFixed(1)} ${clampY(p.v).toFixed(1)})"/>`).join("");
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  const tick = (v) => v.toFixed(decimals);
  const yTicks = [];
  for (let v = lo; v <= hi + step / 2; v += step) yTicks.push(v);
  const ruleLines = rules.map((l) => {
    const beyond = l.value > hi ? "↑ " : l.value < lo ? "↓ " : "";
    const yy = clampY(l.value).toFixed(1);
    return `<g class="rule-limit" data-value="${l.value}"><line x1="${L}" x2="${W - R}" y1="${yy}" y2="${yy}" stroke="${RULE_COLOUR}" stroke-width="1.5" stroke-dasharray="2 3"/>` +
      `<text x="${L + 4}" y="${(Number(yy) + (l.value < lo ? -4 : 12)).toFixed(1)}" fill="${RULE_COLOUR}" font-size="12">${beyond}${esc(l.label)}</text></g>`;
  }).join("");
  const shareBars = shares.filter((s) => s.readings > 0).map((s) => {
    const share = (s.readings - s.valid) / s.readings, h = 4 + share * (SHARE_STRIP - 4);
    const x1 = Math.min(W - R, x(s.t + (bucketMs ?? 0))), x0 = Math.min(Math.max(L, x(s.t)), x1 - 3);
    if (x1 <= L) return "";
    return `<rect class="share" x="${x0.toFixed(1)}" y="${(H - B - h).toFixed(1)}" width="${Math.max(3, x1 - x0).toFixed(1)}" height="${h.toFixed(1)}" fill="${SHARE_COLOUR}" fill-opacity="0.45"><title>${Math.round(share * 100)} %</title></rect>`;
  }).join("");
  const periods = alarms.filter((a) => a.to > t0 && a.from < t1);
  const alarmBands = periods.map((a) => {
    const x0 = Math.max(L, x(a.from)), x1 = Math.max(x0 + 2, Math.min(W - R, x(a.to))), colour = ALARM_COLOUR[a.severity] ?? ALARM_COLOUR.warning;
    return `<g class="alarm-period" data-severity="${esc(a.severity)}"><title>${esc(a.label)}</title><rect x="${x0.toFixed(1)}" y="${T}" width="${(x1 - x0).toFixed(1)}" height="${H - T - B}" fill="${colour}" fill-opacity="0.1"/>` +
      `<rect x="${x0.toFixed(1)}" y="${T}" width="${(x1 - x0).toFixed(1)}" height="4" fill="${colour}"/></g>`;
  }).join("");
  const limitLines = limits.filter((l) => l.value >= lo && l.value <= hi).map((l) =>
    `<line x1="${L}" x2="${W - R}" y1="${y(l.value).toFixed(1)}" y2="${y(l.value).toFixed(1)}" stroke="#b3261e" stroke-dasharray="6 4"/>` +
    `<text x="${W - R - 4}" y="${(y(l.value) - 4).toFixed(1)}" text-anchor="end" fill="#8c1d18" font-size="12">${esc(l.label)} ${fmtValue(l.value)}</text>`).join("");
  const last = points.length ? points[points.length - 1].t : "";
  const clip = `clip-${Math.random().toString(36).slice(2)}`;
  box.innerHTML = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(label)} (${esc(q.unit)})" data-last-ms="${last}" data-points="${points.length}" data-flagged="${flagged.length}" data-y-max="${hi}" data-t0="${Math.round(t0)}" data-t1="${Math.round(t1)}" data-rule-limits="${rules.length}" data-flag-buckets="${shares.length}" data-alarm-periods="${periods.length}">
    <title>${esc(label)} (${esc(q.unit)})</title>
    <defs><clipPath id="${clip}"><rect x="${L}" y="${T - 4}" width="${W - L - R}" height="${H - T - B + 8}"/></clipPath></defs>
    ${yTicks.map((v) => `<line x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e1e7e4"/><text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="12" fill="#4a5a52">${tick(v)}</text>`).join("")}
    ${timeTicks(t0, t1, tz).map((tk) => `<line x1="${x(tk.ms).toFixed(1)}" x2="${x(tk.ms).toFixed(1)}" y1="${T}" y2="${H - B}" stroke="#eef2f0"/><text x="${x(tk.ms).toFixed(1)}" y="${H - 10}" text-anchor="middle" font-size="12" fill="#4a5a52">${tk.label}</text>`).join("")}
    <text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle" font-size="12" fill="#1d2a24">${esc(q.unit || "—")}</text>
    ${alarmBands}
    <g clip-path="url(#${clip})">
    ${shareBars}
    <path d="${band}" fill="#1d5fa8" fill-opacity="0.15" stroke="none"/>
    <path d="${line}" fill="none" stroke="#1d5fa8" stroke-width="1.6"/>
    ${marks}</g>
    ${limitLines}${ruleLines}
    <line class="cursor" y1="${T}" y2="${H - B}" stroke="#1d2a24" stroke-width="0.8" visibility="hidden"/>
    <rect class="selection" y="${T}" height="${H - T - B}" fill="#1d5fa8" fill-opacity="0.18" stroke="#1d5fa8" visibility="hidden"/>
    <rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="transparent" class="hit" style="touch-action:pan-y;cursor:crosshair"/>
  </svg><div class="tip" role="status"></div>`;
  const svg = box.querySelector("svg"), tip = box.querySelector(".tip"), cursor = svg.querySelector(".cursor");
  const hit = svg.querySelector(".hit"), selection = svg.querySelector(".selection");
  const msAt = (clientX) => { const rect = svg.getBoundingClientRect(); return t0 + ((clientX - rect.left) / rect.width * W - L) / (W - L - R) * (t1 - t0); };
  const clampMs = (ms) => Math.max(t0, Math.min(t1, ms));
  let dragFrom = null;
  hit.addEventListener("pointerdown", (event) => {
    if (!onZoom || event.button !== 0) return;
    dragFrom = clampMs(msAt(event.clientX));
    hit.setPointerCapture?.(event.pointerId);
  });
  hit.addEventListener("pointerup", (event) => {
    if (dragFrom === null) return;
    const to = clampMs(msAt(event.clientX)), from = dragFrom;
    dragFrom = null;
    selection.setAttribute("visibility", "hidden");
    const rect = svg.getBoundingClientRect(), px = (Math.abs(to - from) / (t1 - t0)) * (W - L - R) * (rect.width / W);
    if (px >= 6) onZoom(Math.min(from, to), Math.max(Math.min(from, to) + MIN_ZOOM_MS, Math.max(from, to)));
  });
  hit.addEventListener("pointermove", (event) => {
    if (dragFrom === null) return;
    const to = clampMs(msAt(event.clientX));
    selection.setAttribute("x", x(Math.min(dragFrom, to)).toFixed(1));
    selection.setAttribute("width", Math.abs(x(to) - x(dragFrom)).toFixed(1));
    selection.setAttribute("visibility", "visible");
  });
  hit.addEventListener("mousemove", (event) => {
    if (!points.length) return;
    const rect = svg.getBoundingClientRect();
    const ms = msAt(event.clientX);
    let best = points[0];
    for (const p of points) if (Math.abs(p.t - ms) < Math.abs(best.t - ms)) best = p;
    cursor.setAttribute("x1", x(best.t)); cursor.setAttribute("x2", x(best.t)); cursor.setAttribute("visibility", "visible");
    const range = best.lo !== undefined ? ` (${fmtValue(best.lo)}–${fmtValue(best.hi)})` : "";
    const share = shares.find((s) => s.t <= best.t && best.t < s.t + (bucketMs ?? 0));
    const flaggedShare = share ? ` · ${Math.round(((share.readings - share.valid) / share.readings) * 100)} % ${t("flagged")}` : "";
    tip.textContent = `${fmtTime(best.t, tz)}  ${fmtValue(best.v)} ${q.unit}${range}${best.q !== "N" ? ` · ${flagName(best.q)}` : ""}${flaggedShare}`;
    tip.style.display = "block";
    const left = (x(best.t) / W) * rect.width;
    tip.style.left = `${Math.min(left + 8, rect.width - tip.offsetWidth)}px`;
    tip.style.top = "4px";
  });
  svg.querySelector(".hit").addEventListener("mouseleave", () => { tip.style.display = "none"; cursor.setAttribute("visibility", "hidden"); });
  return svg;
}

/** Legend entries of a rule threshold line, an alarm period and the flagged-share bars. */
export function extraLegend() {
  return `<span><svg width="22" height="10" aria-hidden="true"><rect x="0" y="0" width="22" height="10" fill="${ALARM_COLOUR.critical}" fill-opacity="0.1"/><rect x="0" y="0" width="22" height="3" fill="${ALARM_COLOUR.critical}"/></svg> ${esc(t("alarm_period"))}</span>` +
    `<span><svg width="22" height="10" aria-hidden="true"><line x1="0" x2="22" y1="5" y2="5" stroke="${RULE_COLOUR}" stroke-width="1.5" stroke-dasharray="2 3"/></svg> ${esc(t("rule_limit"))}</span>` +
    `<span><svg width="22" height="10" aria-hidden="true"><line x1="0" x2="22" y1="5" y2="5" stroke="#b3261e" stroke-dasharray="6 4"/></svg> ${esc(t("standard_limit"))}</span>` +
    `<span><svg width="10" height="10" aria-hidden="true"><rect x="0" y="2" width="10" height="8" fill="${SHARE_COLOUR}" fill-opacity="0.45"/></svg> ${esc(t("flag_share"))}</span>`;
}

export function flagLegend() {
  return Object.entries(FLAGS).map(([code, f]) => `<span><svg width="10" height="10" aria-hidden="true"><rect x="2" y="2" width="6" height="6" fill="${f.colour}" transform="rotate(45 5 5)"/></svg> ${code} ${esc(flagName(code))}</span>`).join("");
}
