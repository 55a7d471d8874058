// The console: pages by role (admin, auditor, assistant), each loaded from the API on demand.
"use strict";
import {$, api, esc, getKey, guard, setKey, showError} from "./api.js";
import {initAudit, loadAudit, openRecord, showChunk} from "./audit.js";
import {initIndex, loadIndex} from "./indexpage.js";
import {initPrivacy, loadPrivacy} from "./privacy.js";
import {initQuery} from "./query.js";
import {initRuns, loadRuns} from "./runs.js";
import {initSources, loadSources} from "./sources.js";

const PAGES = {
  sources: {label: "Sources", load: loadSources},
  runs: {label: "Runs", load: loadRuns},
  index: {label: "Index", load: loadIndex},
  privacy: {label: "Privacy", load: (me) => loadPrivacy(me)},
  audit: {label: "Audit", load: (me) => loadAudit(me)},
  query: {label: "Query", load: async () => {}},
};
const BY_ROLE = {admin: ["sources", "runs", "index", "privacy"], auditor: ["audit", "privacy"], assistant: ["query"]};

let me = null;

function tabs() { return [...document.querySelectorAll("#tabs button")]; }

export async function show(page) {
  for (const b of tabs()) {
    const on = b.dataset.page === page;
    b.setAttribute("aria-selected", String(on));
    b.tabIndex = on ? 0 : -1;
  }
  for (const name of Object.keys(PAGES)) $("#page-" + name).hidden = name !== page;
  await guard(() => PAGES[page].load(me));
}

function renderTabs() {
  const pages = me ? BY_ROLE[me.role] || [] : [];
  $("#tabs").innerHTML = pages.map((p) => `<button role="tab" id="tab-${p}" data-page="${p}" aria-controls="page-${p}" ` +
    `aria-selected="false" tabindex="-1">${esc(PAGES[p].label)}</button>`).join("");
  $("#whoami").textContent = me ? `${me.name} · ${me.role} · tenants ${me.tenants.join(", ")}` : "";
  return pages;
}

async function signIn() {
  me = await api("/me");
  const pages = renderTabs();
  return pages;
}

async function start(frag) {
  const pages = await guard(signIn);
  if (!pages) setKey("");  // an unknown key is not kept
  if (!pages || !pages.length) { renderTabs(); for (const n of Object.keys(PAGES)) $("#page-" + n).hidden = true; return; }
  const wanted = frag.get("tab");
  await show(pages.includes(wanted) ? wanted : frag.get("chunk") && pages.includes("audit") ? "audit" : pages[0]);
  if (frag.get("record") && pages.includes("audit")) await guard(() => openRecord(...frag.get("record").split("/")));
  if (frag.get("chunk") && pages.includes("audit")) await guard(() => showChunk(frag.get("chunk")));
}

$("#keyform").addEventListener("submit", (e) => {
  e.preventDefault();
  setKey($("#key").value.trim());
  $("#key").value = "";
  start(new URLSearchParams());
});
$("#forget").addEventListener("click", () => {
  setKey(""); me = null; renderTabs(); showError("");
  for (const n of Object.keys(PAGES)) $("#page-" + n).hidden = true;
  $("#activity").innerHTML = "";
});
$("#tabs").addEventListener("click", (e) => {
  const b = e.target.closest("button[data-page]");
  if (b) show(b.dataset.page);
});
// Arrow keys move between tabs (WAI-ARIA tabs pattern); Enter/Space activate as for any button.
$("#tabs").addEventListener("keydown", (e) => {
  const all = tabs();
  const i = all.indexOf(document.activeElement);
  if (i < 0 || !["ArrowLeft", "ArrowRight", "Home", "End"].includes(e.key)) return;
  const j = e.key === "Home" ? 0 : e.key === "End" ? all.length - 1 : (i + (e.key === "ArrowRight" ? 1 : all.length - 1)) % all.length;
  all[j].focus();
  show(all[j].dataset.page);
  e.preventDefault();
});
initSources(); initRuns(); initIndex(); initPrivacy(); initAudit(); initQuery();

// Automation and bookmarks: #key=...&tab=...&chunk=...&record=tenant/source/id. The fragment never
// reaches the server, and the key is moved to sessionStorage and wiped from the address bar.
const frag = new URLSearchParams(location.hash.slice(1));
if (frag.get("key")) setKey(frag.get("key"));
if (location.hash) history.replaceState(null, "", location.pathname);
if (getKey()) start(frag);
