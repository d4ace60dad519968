// Shared by every dashboard page: language, names, times in a station's zone, the API.
// Plain ES module, no dependencies; nothing is fetched from outside this server.
"use strict";

const STRINGS = {
  zh: {
    title: "山水环境监测", overview: "总览", gateways: "网关", docs: "接口文档", signout: "退出",
    lang: "English", map: "站点地图", ranked: "站点排名", region: "行政区划", type: "站点类型",
    department: "部门", all: "全部", stations: "个站点", nodata: "无数据", online: "在线",
    offline: "离线", unknown: "未知", since: "自", last_contact: "最近通信", primary: "首要污染物",
    target: "目标", meets: "达标", fails: "未达标", exceeds: "超标", within: "未超标",
    day: "昼间", night: "夜间", range: "时间范围", quantities: "监测项目", csv: "下载 CSV",
    flags: "数据标记", value: "数值", time: "时间", zone: "时区", daily: "日均值与数据完整率",
    date: "日期", mean: "均值", completeness: "完整率", latest: "最新值", age: "时长",
    stale: "数据过期", devices: "设备", health: "健康状态", presence: "在线状态", error: "错误", outbox: "缓存深度",
    signal: "信号", config: "配置版本", not_reported: "网关未上报", live: "实时",
    pending_readings: "待发读数", unacked_batches: "未确认批次", quarantined_batches: "隔离批次",
    thinned_readings: "抽稀读数", uptime: "运行时长", clock_synced: "时钟已同步", clock_unsynced: "时钟未同步",
    bad_param: "参数无效，已使用默认值", not_found: "未找到或无权访问", loading: "加载中…",
    raw: "原始数据", hourly: "小时均值", daily_means: "日均值", minute: "分钟均值", ten_min: "10 分钟均值",
    min_max: "最小–最大", limit: "限值", gap: "断点为数据缺失", alarm: "报警",
    comment: "备注", state: "状态", ack: "确认", resolve: "解除", rule: "规则", active: "未解除的报警", recent: "最近 7 天已解除", none: "无", comment_needed: "解除报警需要填写备注", open: "未确认", acknowledged: "已确认", resolved: "已解除", station: "站点", open_station: "打开站点", technician: "现场视图",
    ok: "正常", degraded: "异常", types: { air: "空气", surface_water: "地表水", noise: "噪声",
      soil: "土壤", farm: "农田", barn: "畜舍", pond: "鱼塘", geohazard: "地质灾害" },
    water_class: "水质类别", aqi: "AQI", leq: "等效声级",
    flagged: "标记数据", rule_limit: "报警规则阈值", alarm_period: "报警时段", standard_limit: "标准限值", flag_share: "各时段标记/无效数据占比",
    from: "从", to: "至", apply: "应用", reset: "重置缩放", custom: "自定义", zoom_hint: "在图上拖动可放大时间范围",
    signal_quality: "信号", oldest_unsent: "最早未发数据", csq: "CSQ", rsrp: "RSRP",
  },
  en: {
    title: "Shanshui monitoring", overview: "Overview", gateways: "Gateways", docs: "API docs",
    signout: "Sign out", lang: "中文", map: "Station map", ranked: "Stations by rating",
    region: "Region", type: "Station type", department: "Department", all: "All",
    stations: "stations", nodata: "no data", online: "online", offline: "offline",
    unknown: "unknown", since: "since", last_contact: "Last contact", primary: "Primary pollutant",
    target: "target", meets: "meets target", fails: "misses target", exceeds: "exceeds",
    within: "within limit", day: "day", night: "night", range: "Range", quantities: "Quantities",
    csv: "Download CSV", flags: "Data flags", value: "Value", time: "Time", zone: "Time zone",
    daily: "Daily means and completeness", date: "Date", mean: "Mean",
    completeness: "Completeness", latest: "Latest", age: "Age", stale: "stale",
    devices: "Devices", health: "health", presence: "Presence", error: "Error", outbox: "Outbox depth",
    signal: "Signal", config: "Config version", not_reported: "not reported by the gateway",
    pending_readings: "pending readings", unacked_batches: "unacked batches", quarantined_batches: "quarantined batches",
    thinned_readings: "thinned readings", uptime: "uptime", clock_synced: "clock synced", clock_unsynced: "clock NOT synced",
    live: "live", bad_param: "invalid parameter, default used", not_found: "not found or not in your scope",
    loading: "Loading…", raw: "raw readings", hourly: "hourly means", daily_means: "daily means",
    minute: "1-minute means", ten_min: "10-minute means", min_max: "min–max", limit: "limit",
    gap: "breaks are missing data", alarm: "Alarms", comment: "Comment", state: "State", ack: "Acknowledge", resolve: "Resolve", rule: "Rule", active: "Active alarms", recent: "Resolved in the last 7 days", none: "none", comment_needed: "resolving an alarm needs a comment", open: "open", acknowledged: "acknowledged", resolved: "resolved",
    station: "Station", open_station: "open station", technician: "Technician view",
    ok: "ok", degraded: "degraded", types: { air: "air", surface_water: "surface water",
      noise: "noise", soil: "soil", farm: "farm", barn: "barn", pond: "pond",
      geohazard: "geohazard" },
    water_class: "Water class", aqi: "AQI", leq: "Leq",
    flagged: "flagged", rule_limit: "alarm rule threshold", alarm_period: "alarm period", standard_limit: "standard's limit", flag_share: "share of flagged or invalid readings per bucket",
    from: "From", to: "To", apply: "Apply", reset: "Reset zoom", custom: "custom", zoom_hint: "drag on a chart to zoom into a time range",
    signal_quality: "Signal", oldest_unsent: "oldest unsent", csq: "CSQ", rsrp: "RSRP",
  },
};

// Chinese names of the vocabulary's quantities (device_profiles/quantities.yaml has the English).
const QUANTITY_ZH = {
  air_temperature: "空气温度", relative_humidity: "相对湿度", air_pressure: "大气压", wind_speed: "风速",
  wind_direction: "风向", pm2_5: "PM2.5", pm10: "PM10", pm1_0: "PM1.0", tsp: "总悬浮颗粒物",
  so2: "二氧化硫", no2: "二氧化氮", co: "一氧化碳", o3: "臭氧", co2: "二氧化碳", tvoc: "总挥发性有机物",
  nh3: "氨", h2s: "硫化氢", noise_level: "噪声", gamma_dose_rate: "γ 辐射剂量率",
  wind_direction_sector: "风向扇区", rainfall: "降雨量", rainfall_window: "时段降雨量",
  rain_tips: "雨量计翻斗数", illuminance: "光照度", soil_moisture: "土壤含水量",
  soil_temperature: "土壤温度", soil_conductivity: "土壤电导率", soil_ph: "土壤 pH",
  soil_nitrogen: "土壤氮", soil_phosphorus: "土壤磷", soil_potassium: "土壤钾", water_temperature: "水温",
  water_ph: "pH", dissolved_oxygen: "溶解氧", oxygen_saturation: "溶解氧饱和度", orp: "氧化还原电位",
  turbidity: "浊度", water_conductivity: "电导率", ammonia_nitrogen: "氨氮", water_level: "水位",
  displacement: "位移", tilt_x: "倾角 X", tilt_y: "倾角 Y", heading: "方位角",
};

// HJ 212-2017 data flags, in words.
export const FLAGS = {
  N: { zh: "正常", en: "normal", colour: "#1d5fa8" }, F: { zh: "停运", en: "stopped", colour: "#6b4e16" },
  M: { zh: "维护", en: "maintenance", colour: "#7a3d99" }, S: { zh: "手工输入", en: "manual", colour: "#0f6e6e" },
  D: { zh: "故障", en: "fault", colour: "#b3261e" }, C: { zh: "校准", en: "calibration", colour: "#996300" },
  T: { zh: "超测上限", en: "over range", colour: "#c2185b" }, B: { zh: "通讯异常", en: "comms fault", colour: "#4e5a65" },
};

export let lang = localStorage.getItem("shanshui.lang") === "en" ? "en" : "zh";
export function t(key) { return STRINGS[lang][key] ?? key; }
export function typeName(type) { return type ? (STRINGS[lang].types[type] ?? type) : "—"; }
export function flagName(q) { return FLAGS[q] ? FLAGS[q][lang] : q; }

let vocabulary = {};
export async function loadVocabulary() {
  const list = await api("/api/v1/vocabulary");
  vocabulary = Object.fromEntries(list.map((q) => [q.code, q]));
  return vocabulary;
}
export function quantity(code) { return vocabulary[code] ?? { code, name: code, unit: "", min: 0, max: 1 }; }
export function qname(code) { return lang === "zh" ? (QUANTITY_ZH[code] ?? quantity(code).name) : quantity(code).name; }

export class ApiError extends Error { constructor(status, detail) { super(detail); this.status = status; } }

export async function api(path) {
  const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (response.status === 401) { location.assign("/login"); throw new ApiError(401, "signed out"); }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail ?? detail; } catch { /* not JSON */ }
    throw new ApiError(response.status, detail);
  }
  return response.json();
}

const formats = new Map();
function formatter(tz) {
  if (!formats.has(tz)) {
    formats.set(tz, new Intl.DateTimeFormat("sv-SE", {
      timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    }));
  }
  return formats.get(tz);
}
/** "2026-05-01 08:00:00" in the zone ``tz`` (24-hour, ISO order). */
export function fmtTime(ms, tz) { return Number.isFinite(ms) ? formatter(tz).format(new Date(ms)) : "—"; }
/** "UTC+08:00" of ``tz`` at ``ms``. */
export function offsetOf(ms, tz) {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "longOffset" }).formatToParts(new Date(ms));
  const name = parts.find((p) => p.type === "timeZoneName")?.value ?? "GMT";
  return name === "GMT" ? "UTC+00:00" : name.replace("GMT", "UTC");
}
/** UTC ms of the wall-clock time ``text`` (``YYYY-MM-DD HH:MM``, or with a T) in the zone ``tz``, or null. */
export function parseLocal(text, tz) {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2})?$/.exec((text ?? "").trim());
  if (!m) return null;
  const guess = Date.parse(`${m[1]}T${m[2]}${m[3] ?? ":00"}Z`);
  if (!Number.isFinite(guess)) return null;
  const offset = (ms) => Date.parse(`${fmtTime(ms, tz).replace(" ", "T")}Z`) - Math.floor(ms / 1000) * 1000;
  return guess - offset(guess - offset(guess));
}
/** ``YYYY-MM-DD HH:MM`` of ``ms`` in the zone ``tz`` (24-hour, whatever the browser's locale). */
export function localInput(ms, tz) { return fmtTime(ms, tz).slice(0, 16); }
export function zoneLabel(tz) { return `${tz} (${offsetOf(Date.now(), tz)})`; }
export function fmtAge(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 120) return lang === "zh" ? `${s} 秒` : `${s} s`;
  if (s < 7200) return lang === "zh" ? `${Math.round(s / 60)} 分钟` : `${Math.round(s / 60)} min`;
  if (s < 172800) return lang === "zh" ? `${Math.round(s / 3600)} 小时` : `${Math.round(s / 3600)} h`;
  return lang === "zh" ? `${Math.round(s / 86400)} 天` : `${Math.round(s / 86400)} d`;
}
/** Outbox depth, oldest unsent reading, uptime and clock sync as the gateway last reported them (``status`` of /api/v1/gateways). */
export function gatewayStatusHtml(s) {
  if (!s || Object.values(s).every((v) => v === null || v === undefined)) return `<span class="muted">${t("not_reported")}</span>`;
  const counts = ["pending_readings", "unacked_batches", "quarantined_batches", "thinned_readings"]
    .filter((k) => Number.isInteger(s[k]))
    .map((k) => `<div class="${k === "quarantined_batches" && s[k] > 0 ? "stale" : ""}">${t(k)}: <span data-field="${k}">${s[k]}</span></div>`);
  if (Number.isInteger(s.oldest_unsent_age_s)) counts.push(`<div class="${s.oldest_unsent_age_s > 3600 ? "stale" : ""}">${t("oldest_unsent")}: <span data-field="oldest_unsent_age_s">${fmtAge(Date.now() - s.oldest_unsent_age_s * 1000)}</span></div>`);
  if (Number.isInteger(s.uptime_s)) counts.push(`<div>${t("uptime")}: <span data-field="uptime_s">${fmtAge(Date.now() - s.uptime_s * 1000)}</span></div>`);
  if (typeof s.clock_synced === "boolean") counts.push(`<div class="${s.clock_synced ? "" : "stale"}" data-field="clock_synced">${t(s.clock_synced ? "clock_synced" : "clock_unsynced")}</div>`);
  return counts.join("");
}
/** The NB-IoT signal a gateway last reported (CSQ with RSSI, RSRP), or a dash. */
export function gatewaySignalHtml(s) {
  if (!Number.isInteger(s.signal_csq) && !Number.isInteger(s.signal_rsrp_dbm)) return `<span class="muted">—</span>`;
  const parts = [];
  if (Number.isInteger(s.signal_csq)) parts.push(`${t("csq")} <span data-field="signal_csq">${s.signal_csq}</span>${Number.isInteger(s.signal_rssi_dbm) ? ` (${s.signal_rssi_dbm} dBm)` : ""}`);
  if (Number.isInteger(s.signal_rsrp_dbm)) parts.push(`${t("rsrp")} <span data-field="signal_rsrp_dbm">${s.signal_rsrp_dbm}</span> dBm`);
  return parts.map((p) => `<div>${p}</div>`).join("");
}

export function fmtValue(v) {
  if (!Number.isFinite(v)) return "—";
  const a = Math.abs(v);
  return a >= 1000 ? v.toFixed(0) : a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

export function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** Black or white, whichever reads better on ``hex`` (WCAG contrast). */
export function textOn(hex) {
  const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const n = parseInt(hex.slice(1), 16);
  const l = 0.2126 * lin((n >> 16) & 255) + 0.7152 * lin((n >> 8) & 255) + 0.0722 * lin(n & 255);
  return (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) ? "#000000" : "#FFFFFF";
}

/** The chip of a station's rating: colour, words, and the figure behind them. */
export function ratingChip(rating) {
  if (!rating) return { bg: "#e4e9e6", fg: "#1d2a24", label: t("nodata"), detail: "" };
  if (rating.kind === "aqi") {
    const primary = rating.primary_pollutants.map(qname).join("、");
    return { bg: rating.hex, fg: textOn(rating.hex), label: lang === "zh" ? rating.category : rating.category_en,
      detail: `AQI ${rating.aqi}${primary ? ` · ${t("primary")} ${primary}` : ""}` };
  }
  if (rating.kind === "water") {
    const colours = ["#44C8F5", "#44C8F5", "#00E400", "#FFFF00", "#FF7E00", "#FF0000"];
    const bg = colours[Math.min(rating.class_number, 6) - 1];
    const cls = lang === "zh" ? `${rating.class} 类` : rating.class_en;
    const target = rating.target_class ? ` · ${t("target")} ${rating.target_class} · ${rating.meets_target ? t("meets") : t("fails")}` : "";
    return { bg, fg: textOn(bg), label: cls, detail: `${lang === "zh" ? rating.status : rating.status_en}${target}` };
  }
  const bg = rating.exceeds ? "#FF7E00" : "#00E400";
  const limit = rating.limit_db == null ? "" : ` / ${rating.limit_db} dB(A) (${t(rating.period)})`;
  return { bg, fg: textOn(bg), label: rating.exceeds ? `${t("exceeds")} ${rating.exceedance_db} dB` : t("within"),
    detail: `${t("leq")} ${rating.leq_db} dB(A)${limit}` };
}

/** The page header with navigation and the language switch. */
export function header(active) {
  const el = document.querySelector("header.top");
  const link = (href, key) => `<a href="${href}"${active === key ? ' aria-current="page"' : ""}>${t(key)}</a>`;
  el.innerHTML = `<h1>${t("title")}</h1><nav aria-label="main">${link("/", "overview")}${link("/alarms", "alarm")}${link("/gateways", "gateways")}${link("/docs", "docs")}</nav>
    <span class="spacer"></span><button type="button" id="lang" lang="${lang === "zh" ? "en" : "zh"}">${t("lang")}</button>
    <form method="post" action="/logout" style="margin:0"><button type="submit">${t("signout")}</button></form>`;
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.getElementById("lang").addEventListener("click", () => {
    localStorage.setItem("shanshui.lang", lang === "zh" ? "en" : "zh");
    location.reload();
  });
}

/** A query parameter from a fixed set, else the default (and a note that it was bad). */
export function choice(params, name, allowed, fallback) {
  const value = params.get(name);
  if (value === null || value === "") return { value: fallback, bad: false };
  return allowed.includes(value) ? { value, bad: false } : { value: fallback, bad: true };
}
/** A positive integer path segment, or null. */
export function positiveInt(text) { return /^[1-9][0-9]{0,15}$/.test(text ?? "") ? Number(text) : null; }
