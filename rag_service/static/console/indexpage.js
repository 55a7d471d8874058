// Index: live and previous generations, stale records, rebuild and rollback (with confirmation).
"use strict";
import {$, api, esc, fill, guard, statusClass, time} from "./api.js";
import {confirmAction} from "./dialog.js";
import {activity, followRun} from "./follow.js";

let current = null;

export async function loadIndex() {
  current = await api("/admin/index");
  const i = current;
  $("#index").innerHTML = `<p>live generation <b>${esc(i.live_generation)}</b>` +
    `${i.switched_at ? `, switched ${time(i.switched_at)}` : ""}; previous generation <b>${esc(i.previous_generation || "none")}</b> ` +
    `(the rollback target)</p><p>${esc(i.chunks)} chunks at ${esc(i.location)}; retrieval ${esc(i.retrieval_mode)}` +
    `${i.lexical_vectors ? "" : " (no lexical vectors yet: rebuild to add them)"}</p>`;
  $("#rollback").disabled = !i.previous_generation;
  fill("#stale", Object.entries(i.stale_records).map(([name, n]) => `<tr data-stale="${esc(name)}"><td>${esc(name)}</td>` +
    `<td>${esc(n)}</td><td><button data-reprocess="${esc(name)}" ${n ? "" : "disabled"}>Reprocess stale</button></td></tr>`).join(""));
}

async function rebuild() {
  const ok = await confirmAction("Rebuild the index?",
    "<p>A new generation is built from every source, verified (ledger counts, canary queries, no erased or revoked " +
    "record) and swapped in atomically. Queries use the live generation throughout; the current one is kept for rollback.</p>", "Rebuild");
  if (!ok) return;
  const started = await api("/admin/rebuild", {method: "POST"});
  await followRun(started.run_id, "rebuild", loadIndex);
}

async function rollback() {
  const ok = await confirmAction("Roll back the index?",
    `<p>The previous generation <b>${esc(current?.previous_generation)}</b> becomes live again (one step back).</p>`, "Roll back");
  if (!ok) return;
  activity("rollback", "rollback: <span class=\"run\">running</span>");
  const report = await api("/admin/rollback", {method: "POST"});
  activity("rollback", `rollback: <span class="${statusClass(report.status)}">${esc(report.status)}</span>`);
  await loadIndex();
}

async function reprocess(name) {
  activity("stale-" + name, `reprocess stale ${esc(name)}: <span class="run">running</span>`);
  const result = await api(`/admin/sources/${encodeURIComponent(name)}/reprocess-stale`, {method: "POST"});
  activity("stale-" + name, `reprocess stale ${esc(name)}: <span class="${statusClass(result.status === "nothing_to_do" ? "succeeded" : result.status)}">${esc(result.status)}</span>`);
  await loadIndex();
}

export function initIndex() {
  $("#rebuild").addEventListener("click", () => guard(rebuild));
  $("#rollback").addEventListener("click", () => guard(rollback));
  $("#stale").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-reprocess]");
    if (b) guard(() => reprocess(b.dataset.reprocess));
  });
}
