// Follow a run started from this tab: poll GET /admin/runs/{id} and its progress until it ends.
"use strict";
import {$, api, counts, esc, span, statusClass} from "./api.js";

export const POLL_MS = 1000;

export function activity(id, html) {
  let item = document.querySelector(`#activity li[data-activity="${CSS.escape(id)}"]`);
  if (!item) {
    item = document.createElement("li");
    item.dataset.activity = id;
    $("#activity").prepend(item);
  }
  item.innerHTML = html;
  return item;
}

export async function followRun(runId, label, onDone) {
  const id = "run-" + runId;
  for (;;) {
    let run;
    try { run = await api(`/admin/runs/${encodeURIComponent(runId)}`); } catch (e) {
      activity(id, `${esc(label)}: <span class="bad">${esc(e.message)}</span>`);
      return null;
    }
    if (run.status !== "running") {
      const item = activity(id, `${esc(label)}: <span class="${statusClass(run.status)}">${esc(run.status)}</span>` +
        ` (${esc(counts(run.counts))})${run.error ? ` <span class="bad">${esc(run.error)}</span>` : ""}`);
      item.dataset.status = run.status;
      if (onDone) await onDone(run);
      return run;
    }
    const p = await api(`/admin/runs/${encodeURIComponent(runId)}/progress`).catch(() => null);
    const written = p ? Object.values(p.records).reduce((a, b) => a + b, 0) : 0;
    const item = activity(id, `${esc(label)}: <span class="run">running</span> — ${esc(written)} records written, ` +
      `${esc(p ? p.quarantined : 0)} quarantined, ${esc(span(p ? p.elapsed_seconds : 0))}` +
      ` <progress aria-label="${esc(label)} in progress"></progress>`);
    item.dataset.status = "running";
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
