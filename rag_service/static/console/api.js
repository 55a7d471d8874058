// The console's only way to the service: its own API, with the key typed into this tab.
// The key lives in sessionStorage (this tab only; gone when the tab closes), never in a cookie,
// localStorage or the URL.
"use strict";

export const $ = (sel, root = document) => root.querySelector(sel);
export const esc = (s) => String(s ?? "").replace(/[&<>"']/g,
  (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

const KEY = "crmKey";
export const getKey = () => sessionStorage.getItem(KEY) || "";
export function setKey(key) {
  if (key) sessionStorage.setItem(KEY, key); else sessionStorage.removeItem(KEY);
}

function detail(data) {
  const d = data && data.detail;
  if (Array.isArray(d)) return d.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ");
  return d ? String(d) : "";
}

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// GET by default; `body` is sent as JSON; `query` values that are empty are left out.
export async function api(path, {method = "GET", body, query} = {}) {
  let url = path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
    if ([...q].length) url += "?" + q;
  }
  const headers = {"X-API-Key": getKey()};
  if (body !== undefined) headers["content-type"] = "application/json";
  const resp = await fetch(url, {method, headers, cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body)});
  let data = null;
  try { data = await resp.json(); } catch { data = null; }
  if (!resp.ok) throw new ApiError(resp.status, `${method} ${path}: HTTP ${resp.status}` + (detail(data) ? ` (${detail(data)})` : ""));
  return data;
}

export function showError(message) { $("#error").textContent = message || ""; }

// Run an action; its failure is shown in the alert region, never thrown away.
export async function guard(action) {
  try { showError(""); return await action(); } catch (e) { showError(e.message); return undefined; }
}

export function ago(iso) {
  if (!iso) return "-";
  const s = (Date.now() - Date.parse(iso)) / 1000;
  return s >= 0 ? span(s) + " ago" : "in " + span(-s);
}
export function span(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  const s = Math.abs(seconds);
  return s < 120 ? Math.round(s) + " s" : s < 7200 ? Math.round(s / 60) + " min" : s < 172800 ? Math.round(s / 3600) + " h" : Math.round(s / 86400) + " d";
}
export const time = (iso) => iso ? `<time datetime="${esc(iso)}" title="${esc(iso)}">${esc(ago(iso))}</time>` : "-";

// Redaction markers (<PERSON>, <EMAIL_ADDRESS>, ...) are highlighted; text is never HTML.
export const highlight = (text) => esc(text).replace(/&lt;([A-Z][A-Z_]*)&gt;/g, '<mark class="pii">&lt;$1&gt;</mark>');

export function statusClass(status) {
  return ["succeeded", "swapped", "rolled_back", "clean", "repaired", "nothing_to_do"].includes(status) ? "ok" : status === "running" ? "run" : status ? "bad" : "";
}

export function counts(obj) {
  const parts = Object.entries(obj || {}).filter(([, v]) => v).map(([k, v]) => `${esc(k)} ${esc(v)}`);
  return parts.length ? parts.join(", ") : "-";
}

export const chips = (obj) => Object.entries(obj || {}).map(([k, v]) => `<span class="chip">${esc(k)} ${esc(v)}</span>`).join("") || "none";

export function fill(selector, html) { $(selector).querySelector("tbody").innerHTML = html; }
