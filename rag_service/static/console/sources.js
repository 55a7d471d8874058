// Sources: what each source has in the index, how fresh and complete it is, and its actions.
"use strict";
import {$, api, esc, fill, guard, span, statusClass, time} from "./api.js";
import {confirmAction} from "./dialog.js";
import {activity, followRun} from "./follow.js";

export let sources = [];

export async function fetchSources() {
  sources = await api("/admin/status");
  return sources;
}

function pct(x) { return x === null || x === undefined ? "not reconciled yet" : (100 * x).toFixed(1) + " %"; }

function lastRun(r) {
  return r ? `${esc(r.kind)} <span class="${statusClass(r.status)}">${esc(r.status)}</span> ${time(r.finished_at || r.started_at)}` : "never";
}

function row(s) {
  const records = Object.entries(s.records).filter(([k]) => k !== "indexed").map(([k, v]) => `${esc(k)} ${esc(v)}`).join(", ");
  const parts = s.partitions.map((p) => `<tr class="partition" data-partition="${esc(p.key)}"><td colspan="9">partition ` +
    `<b>${esc(p.key)}</b>: cursor ${esc(p.cursor_watermark || "none")}, ${p.busy ? '<span class="run">busy</span>' : "idle"}, ` +
    `last run ${lastRun(p.last_run)}</td></tr>`).join("");
  const name = esc(s.source);
  return `<tr data-source="${name}"><td><b>${name}</b><div class="muted">${esc(s.kind)} · tenant ${esc(s.tenant_id)}` +
    `${s.enabled ? "" : " · disabled"}</div></td>` +
    `<td data-col="index"><b>${esc(s.records_indexed)}</b> records<br>${esc(s.chunks_indexed)} chunks` +
    `${records ? `<div class="muted">${records}</div>` : ""}</td>` +
    `<td>${esc(s.quarantined)}</td><td>${esc(pct(s.completeness))}</td>` +
    `<td>${s.freshness_seconds === null ? "never synced" : "synced " + esc(span(s.freshness_seconds)) + " ago"}</td>` +
    `<td data-col="last-run">${lastRun(s.last_run)}${s.busy ? ' <span class="run">(busy)</span>' : ""}</td>` +
    `<td>${s.last_error ? `<span class="bad">${esc(s.last_error.error)}</span><div class="muted">${esc(s.last_error.kind)} ${time(s.last_error.at)}</div>` : "-"}</td>` +
    `<td>${s.next_run_due ? time(s.next_run_due) : "-"}</td>` +
    `<td class="actions"><button data-action="sync" data-name="${name}">Sync now</button>` +
    `<button data-action="reindex" data-name="${name}" class="danger">Reindex…</button>` +
    `<button data-action="reconcile" data-name="${name}" class="danger">Reconcile…</button></td></tr>` + parts;
}

export async function loadSources() {
  await fetchSources();
  fill("#sources", sources.map(row).join(""));
  const q = await api("/admin/quarantine", {query: {limit: 50}});
  fill("#quarantine", q.map((r) => `<tr><td>${esc(r.source)}</td><td>${esc(r.locator)}</td><td>${esc(r.record_id || "-")}</td>` +
    `<td>${esc(r.reason)}</td><td>${time(r.last_seen)}</td></tr>`).join(""));
}

async function sync(name) {
  const started = await api(`/admin/sources/${encodeURIComponent(name)}/sync`, {method: "POST"});
  await loadSources();
  await followRun(started.run_id, `sync ${name}`, loadSources);
}

async function reindex(name) {
  const ok = await confirmAction(`Reindex ${name}?`,
    `<p>Every record of <b>${esc(name)}</b> is read again, redacted and re-embedded. Queries keep answering ` +
    "from the current chunks meanwhile; the run can take a while on a large source.</p>", "Reindex");
  if (!ok) return;
  const started = await api("/admin/reindex", {method: "POST", body: {source: name}});
  await followRun(started.run_id, `reindex ${name}`, loadSources);
}

async function reconcile(name) {
  const id = "reconcile-" + name;
  activity(id, `reconcile ${esc(name)}: checking (dry run)…`);
  const plan = await api(`/admin/sources/${encodeURIComponent(name)}/reconcile`, {method: "POST", query: {dry_run: true}});
  const ok = await confirmAction(`Reconcile ${name}?`,
    `<p>The source lists <b>${esc(plan.live_records)}</b> live records; completeness now ${esc(pct(plan.completeness_before))}.</p>` +
    `<p>Chunks of <b>${esc(plan.would_delete.length)}</b> records would be deleted (gone from the source) and ` +
    `<b>${esc(plan.would_reprocess.length)}</b> records re-processed.</p>` +
    (plan.would_delete.length ? `<p class="muted">would delete: ${esc(plan.would_delete.slice(0, 20).join(", "))}` +
      `${plan.would_delete.length > 20 ? " …" : ""}</p>` : ""), "Reconcile");
  if (!ok) { activity(id, `reconcile ${esc(name)}: cancelled`); return; }
  activity(id, `reconcile ${esc(name)}: <span class="run">running</span> <progress aria-label="reconcile in progress"></progress>`);
  const done = await api(`/admin/sources/${encodeURIComponent(name)}/reconcile`, {method: "POST", query: {confirm: true}});
  activity(id, `reconcile ${esc(name)}: <span class="${statusClass(done.status === "needs_confirmation" ? "failed" : "succeeded")}">${esc(done.status)}</span>` +
    ` (chunks deleted ${esc(done.chunks_deleted)}, re-processed ${esc(done.reprocessed)}, completeness ${esc(pct(done.completeness_after))})`);
  await loadSources();
}

const ACTIONS = {sync, reindex, reconcile};

export function initSources() {
  $("#sources").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (button) guard(() => ACTIONS[button.dataset.action](button.dataset.name));
  });
}
