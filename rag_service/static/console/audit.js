// Audit: the event log with filters, chain verification, a record's full history and its chunks,
// and chunk provenance with the redaction markers highlighted (click through from an event).
"use strict";
import {$, api, chips, esc, fill, guard, highlight, time} from "./api.js";

let scope = [];

export async function loadAudit(me) {
  scope = me.tenants;
  if (!scope.includes("*") && !$("#ev-tenant").value) $("#ev-tenant").value = scope[0];
  const v = await api("/audit/verify");
  $("#chain").innerHTML = v.ok ? `<span class="ok">audit chain verified</span>: ${esc(v.events_checked)} events, every hash links`
    : `<span class="bad">audit chain broken</span> at event #${esc(v.first_bad_event_id)} (${esc(v.events_checked)} events checked)`;
  await events();
}

function recordButton(tenant, source, record) {
  if (!tenant || !source || !record) return esc(record || "-");
  return `<button class="link" data-record="${esc(JSON.stringify([tenant, source, record]))}">${esc(record)}</button>`;
}

// The record of an event, or the records a write names in its details (index_write, reindex).
function records(e) {
  const ids = Array.isArray(e.details?.record_ids) ? e.details.record_ids : [];
  if (e.record_id || !ids.length) return recordButton(e.tenant_id, e.source, e.record_id);
  const shown = ids.slice(0, 8).map((id) => recordButton(e.tenant_id, e.source, id)).join(" ");
  return shown + (ids.length > 8 ? ` <span class="muted">+${esc(ids.length - 8)} more</span>` : "");
}

function rest(details) {
  const {record_ids: _ids, ...others} = details || {};
  return others;
}

async function events() {
  const since = $("#ev-since").value;
  const rows = await api("/audit/events", {query: {
    action: $("#ev-action").value.trim(), actor: $("#ev-actor").value.trim(), record_id: $("#ev-record").value.trim(),
    tenant_id: $("#ev-tenant").value.trim(), since: since ? new Date(since).toISOString() : "", limit: 200}});
  fill("#events", rows.map((e) => `<tr data-event="${esc(e.id ?? "")}"><td>${time(e.ts)}</td><td>${esc(e.actor)}</td>` +
    `<td>${esc(e.action)}</td><td>${esc(e.tenant_id || "-")}</td><td>${esc(e.source || "-")}</td>` +
    `<td>${records(e)}</td><td class="muted">${esc(JSON.stringify(rest(e.details)).slice(0, 160))}</td></tr>`).join(""));
}

const enc = encodeURIComponent;

export async function openRecord(tenant, source, record) {
  $("#rec-tenant").value = tenant; $("#rec-source").value = source; $("#rec-id").value = record;
  const prov = await api(`/audit/records/${enc(tenant)}/${enc(source)}/${enc(record)}`);
  const history = await api(`/audit/records/${enc(tenant)}/${enc(source)}/${enc(record)}/history`).catch(() => []);
  const l = prov.ledger;
  const ledger = l ? `<p>ledger: <b>${esc(l.status)}</b>${l.reason ? ` (${esc(l.reason)})` : ""}, version ${esc(l.version)}, ` +
    `${esc(l.chunk_count)} chunks, redaction policy ${esc(l.redaction_policy || "-")}, consent policy ${esc(l.consent_policy || "-")}, ` +
    `model ${esc(l.model_id || "-")}, last run ${esc(l.last_run_id || "-")}</p>` : "<p>no ledger row</p>";
  const hist = history.map((h) => `<tr><td>${time(h.ts)}</td><td>${esc(h.action)}</td><td>${esc(h.version || "-")}</td>` +
    `<td>${esc(h.chunk_count ?? "-")}</td><td>${h.redaction_counts ? chips(h.redaction_counts) : "-"}</td>` +
    `<td>${esc(h.redaction_policy || "-")}</td><td>${esc(h.model_id || "-")}</td><td>${esc(h.reason || "")}</td></tr>`).join("");
  const chunks = prov.chunks.map((c) => `<li><button class="link" data-chunk="${esc(c.chunk_id)}">chunk ${esc(c.payload.chunk_index)}` +
    `</button> <span class="muted">chars ${esc(c.payload.char_start)}-${esc(c.payload.char_end)}, redactions ` +
    `${esc(Object.values(c.payload.redaction?.counts || {}).reduce((a, b) => a + b, 0))}</span></li>`).join("");
  $("#record").innerHTML = `<h3>Record ${esc(record)} <span class="muted">${esc(tenant)} · ${esc(source)}</span></h3>${ledger}` +
    `<h3>History</h3><table id="history"><thead><tr><th>time</th><th>action</th><th>version</th><th>chunks</th><th>redactions</th>` +
    `<th>policy</th><th>model</th><th>reason</th></tr></thead><tbody>${hist}</tbody></table>` +
    `<h3>Chunks in the index</h3><ol id="record-chunks" start="0">${chunks || "<li>none (not in the index)</li>"}</ol>`;
  $("#provenance").innerHTML = "";
  $("#record").scrollIntoView({block: "start"});
}

export async function showChunk(id) {
  $("#chunk").value = id;
  const p = (await api("/audit/chunks/" + enc(id))).payload;
  const counts = Object.entries(p.redaction.counts).map(([k, v]) => `${esc(k)}: ${esc(v)}`).join(", ") || "none";
  $("#provenance").innerHTML = `<h3>Chunk provenance</h3><p><b>${esc(p.record_type)} ${esc(p.record_id)}</b> from ${esc(p.source)} ` +
    `(<a href="${esc(p.record_url)}" rel="noreferrer noopener" target="_blank">open in CRM</a>), version ${esc(p.record_version)}, ` +
    `updated ${esc(p.source_updated_at)}; chunk ${esc(p.chunk_index)} [${esc(p.char_start)}-${esc(p.char_end)}]; ` +
    `redactions ${counts}; policy ${esc(p.redaction.policy_version)}; model ${esc(p.embedding_model)}; ` +
    `purposes ${esc((p.purposes || []).join(", "))}; run ${esc(p.ingest_run_id)}; indexed ${esc(p.indexed_at)}</p>` +
    `<pre class="chunk" id="chunk-text">${highlight(p.text)}</pre>`;
  $("#provenance").scrollIntoView({block: "start"});
}

export function initAudit() {
  $("#eventfilter").addEventListener("submit", (e) => { e.preventDefault(); guard(events); });
  $("#recordform").addEventListener("submit", (e) => {
    e.preventDefault();
    guard(() => openRecord($("#rec-tenant").value.trim(), $("#rec-source").value.trim(), $("#rec-id").value.trim()));
  });
  $("#chunkform").addEventListener("submit", (e) => { e.preventDefault(); guard(() => showChunk($("#chunk").value.trim())); });
  $("#page-audit").addEventListener("click", (e) => {
    const rec = e.target.closest("button[data-record]");
    if (rec) guard(() => openRecord(...JSON.parse(rec.dataset.record)));
    const chunk = e.target.closest("button[data-chunk]");
    if (chunk) guard(() => showChunk(chunk.dataset.chunk));
  });
}
