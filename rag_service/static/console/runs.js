// Runs: history with kind, actor, duration, counts and error; filters; live progress of runs in flight.
"use strict";
import {$, api, counts, esc, fill, guard, span, statusClass, time} from "./api.js";
import {fetchSources, sources} from "./sources.js";
import {POLL_MS} from "./follow.js";

let timer = null;

async function render() {
  const runs = await api("/admin/run-history", {query: {
    source: $("#run-source").value, status: $("#run-status").value, kind: $("#run-kind").value, limit: 100}});
  const progress = {};
  await Promise.all(runs.filter((r) => r.status === "running").map(async (r) => {
    progress[r.run_id] = await api(`/admin/runs/${encodeURIComponent(r.run_id)}/progress`).catch(() => null);
  }));
  fill("#runs", runs.map((r) => {
    const p = progress[r.run_id];
    const live = p ? `<span class="run">${esc(Object.values(p.records).reduce((a, b) => a + b, 0))} records written, ` +
      `${esc(span(p.elapsed_seconds))}</span> <progress aria-label="run in progress"></progress>` : "";
    return `<tr data-run="${esc(r.run_id)}" data-status="${esc(r.status)}"><td>${time(r.started_at)}</td><td>${esc(r.source)}</td>` +
      `<td>${esc(r.kind)}</td><td>${esc(r.actor)}</td><td class="${statusClass(r.status)}">${esc(r.status)}</td>` +
      `<td>${r.duration_seconds === null ? "-" : esc(r.duration_seconds.toFixed(1) + " s")}</td>` +
      `<td>${live || esc(counts(r.counts))}</td><td>${r.error ? `<span class="bad">${esc(r.error)}</span>` : ""}</td></tr>`;
  }).join(""));
  clearTimeout(timer);
  if (runs.some((r) => r.status === "running") && !$("#page-runs").hidden) timer = setTimeout(() => guard(render), POLL_MS);
}

export async function loadRuns() {
  if (!sources.length) await fetchSources();
  const select = $("#run-source");
  if (select.options.length === 1) {
    for (const s of sources) select.add(new Option(s.source, s.source));
  }
  await render();
}

export function initRuns() {
  $("#runfilter").addEventListener("submit", (e) => { e.preventDefault(); guard(render); });
}
