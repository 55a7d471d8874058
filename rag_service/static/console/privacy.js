// Privacy: erasure and consent-revocation requests (admin), receipts with their verification
// state (issued in this tab for admins; all of them for auditors), redaction summary per source.
"use strict";
import {$, api, chips, esc, fill, guard, time} from "./api.js";
import {confirmAction} from "./dialog.js";
import {fetchSources, sources} from "./sources.js";

let role = null;
const issued = [];  // receipts returned to this tab's requests (admins cannot list receipts)

function verification(r, check) {
  const state = r.verified ? '<span class="ok">verified</span>' : '<span class="bad">not verified</span>';
  const now = check ? (check.verified_now ? ` · <span class="ok">still 0 chunks now</span>` :
    ` · <span class="bad">${esc(check.remaining_chunks_now)} chunks found now</span>`) : "";
  return `${state}: ${esc(r.remaining_hits)} hits remaining${r.writes_settled ? "" : ", writes not settled"}, ` +
    `${esc(r.seconds_to_zero_hits.toFixed(2))} s to zero${now}`;
}

function renderReceipts(list) {
  fill("#receipts", list.map((r) => `<tr data-receipt="${esc(r.receipt_id)}"><td>${time(r.created_at)}</td><td>${esc(r.kind)}</td>` +
    `<td>${esc(r.tenant_id)}</td><td>${esc(r.records.length)}</td><td>${esc(r.chunks_deleted)}</td>` +
    `<td data-col="verification">${verification(r)}</td><td><code>${esc(r.receipt_id)}</code>` +
    `${role === "auditor" ? ` <button data-check="${esc(r.receipt_id)}">Check now</button>` : ""}</td></tr>`).join(""));
}

export async function loadPrivacy(me) {
  role = me.role;
  $("#privacy-forms").hidden = role !== "admin";
  if (role === "admin") {
    if (!sources.length) await fetchSources();
    const tenants = [...new Set(sources.map((s) => s.tenant_id))];
    const t = $("#erasure-tenant");
    if (!t.options.length) for (const x of tenants) t.add(new Option(x, x));
    const s = $("#revoke-source");
    if (!s.options.length) for (const x of sources) s.add(new Option(`${x.source} (${x.tenant_id})`, x.source));
    $("#receipts-note").textContent = "Receipts issued in this tab; auditors see every receipt.";
    renderReceipts(issued);
  } else {
    const tenant = me.tenants.includes("*") ? undefined : me.tenants[0];
    $("#receipts-note").textContent = "Every erasure, revocation and retirement receipt, newest first.";
    renderReceipts(await api("/audit/receipts", {query: {tenant_id: tenant, limit: 100}}));
  }
  const summary = await api("/audit/redaction-summary");
  fill("#redactions", summary.map((r) => `<tr data-redactions="${esc(r.source)}"><td>${esc(r.source)}</td><td>${esc(r.tenant_id)}</td>` +
    `<td>${esc(r.records)}</td><td>${chips(r.entities)}</td></tr>`).join(""));
}

function erasureBody() {
  const body = {tenant_id: $("#erasure-tenant").value};
  for (const [field, id] of [["contact_id", "#erasure-contact"], ["email", "#erasure-email"], ["phone", "#erasure-phone"]]) {
    const v = $(id).value.trim();
    if (v) body[field] = v;
  }
  return body;
}

async function preview() {
  const p = await api("/admin/erasure", {method: "POST", body: erasureBody(), query: {dry_run: true}});
  $("#erasure-result").innerHTML = `<p>Would erase <b>${esc(p.records.length)}</b> records (${esc(p.chunks)} chunks) in tenant ${esc(p.tenant_id)}.</p>`;
  return p;
}

function showReceipt(target, r) {
  issued.unshift(r);
  renderReceipts(issued);
  $(target).innerHTML = `<p>Receipt <code>${esc(r.receipt_id)}</code>: ${esc(r.records.length)} records, ` +
    `${esc(r.chunks_deleted)} chunks deleted; ${verification(r)}.</p>`;
}

async function erase() {
  const p = await preview();
  const ok = await confirmAction("Erase this contact?",
    `<p>Every chunk of <b>${esc(p.records.length)}</b> records (${esc(p.chunks)} chunks) linked to this contact is deleted ` +
    "from the index, and records naming the contact are never indexed again. This cannot be undone.</p>", "Erase");
  if (!ok) return;
  showReceipt("#erasure-result", await api("/admin/erasure", {method: "POST", body: erasureBody()}));
}

async function revoke() {
  const source = sources.find((s) => s.source === $("#revoke-source").value);
  const record = $("#revoke-record").value.trim();
  const ok = await confirmAction("Revoke consent for this record?",
    `<p>Record <b>${esc(record)}</b> of ${esc(source.source)} is excluded from queries at once and its chunks are purged.</p>`, "Revoke");
  if (!ok) return;
  showReceipt("#revoke-result", await api("/admin/consent/revoke", {method: "POST",
    body: {tenant_id: source.tenant_id, source: source.source, record_id: record}}));
}

async function check(id) {
  const c = await api(`/audit/receipts/${encodeURIComponent(id)}/check`);
  const r = await api(`/audit/receipts/${encodeURIComponent(id)}`);
  $(`#receipts tr[data-receipt="${CSS.escape(id)}"] td[data-col="verification"]`).innerHTML = verification(r, c);
}

export function initPrivacy() {
  $("#erasure-preview").addEventListener("click", () => guard(preview));
  $("#erasure-form").addEventListener("submit", (e) => { e.preventDefault(); guard(erase); });
  $("#revoke-form").addEventListener("submit", (e) => { e.preventDefault(); guard(revoke); });
  $("#receipts").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-check]");
    if (b) guard(() => check(b.dataset.check));
  });
}
