// Confirmation for destructive actions: a modal <dialog> (focus stays inside, Escape cancels,
// Cancel has the focus first).
"use strict";
import {$} from "./api.js";

export function confirmAction(title, bodyHtml, okLabel = "Confirm") {
  const dialog = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-body").innerHTML = bodyHtml;
  $("#confirm-ok").textContent = okLabel;
  return new Promise((resolve) => {
    const done = (ok) => {
      $("#confirm-ok").onclick = $("#confirm-cancel").onclick = dialog.oncancel = null;
      if (dialog.open) dialog.close();
      resolve(ok);
    };
    $("#confirm-ok").onclick = () => done(true);
    $("#confirm-cancel").onclick = () => done(false);
    dialog.oncancel = (e) => { e.preventDefault(); done(false); };
    dialog.showModal();
    $("#confirm-cancel").focus();
  });
}
