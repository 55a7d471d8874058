// Query playground (assistant role): the question, the answer and its sources, markers highlighted.
"use strict";
import {$, api, esc, guard, highlight} from "./api.js";

async function ask() {
  const teams = $("#q-teams").value.split(",").map((t) => t.trim()).filter(Boolean);
  const body = {question: $("#q-question").value.trim(), tenant_id: $("#q-tenant").value.trim(),
    purpose: $("#q-purpose").value.trim(), user: {user_id: $("#q-user").value.trim(), team_ids: teams}};
  if ($("#q-retrieval").value) body.retrieval = $("#q-retrieval").value;
  $("#answer").innerHTML = '<p class="muted">asking…</p>';
  const r = await api("/query", {method: "POST", body});
  const sources = r.sources.map((s) => `<li data-chunk="${esc(s.chunk_id)}"><b>[${esc(s.n)}] ${esc(s.record_type)} ${esc(s.record_id)}</b> ` +
    `<span class="muted">${esc(s.source)} · score ${esc(s.score.toFixed(3))} · updated ${esc(s.updated_at)} · ` +
    `<a href="${esc(s.record_url)}" rel="noreferrer noopener" target="_blank">open in CRM</a></span>` +
    `<div>${highlight(s.snippet)}</div></li>`).join("");
  $("#answer").innerHTML = `<h3>Answer</h3><div class="answer" id="answer-text">${r.answer ? highlight(r.answer) : esc(r.no_answer || "no answer")}</div>` +
    `<p class="muted">retrieval ${esc(r.retrieval)} · ${esc(r.took_ms.toFixed(0))} ms</p>` +
    `<h3>Sources</h3><ol class="sources" id="answer-sources">${sources || "<li>none</li>"}</ol>`;
}

export function initQuery() {
  $("#queryform").addEventListener("submit", (e) => { e.preventDefault(); guard(ask); });
}
