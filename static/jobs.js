/* Tâches: the progress page polls its job every second and updates the bar, the counts, the rate and the
   time left; when the job ends, the live region says how (once), and the download link or the error shows. */
(function () {
  "use strict";

  var box = document.getElementById("job");
  if (!box || box.getAttribute("data-finished") === "1") { return; }
  var url = box.getAttribute("data-progress-url");

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el && el.textContent !== text) { el.textContent = text; }
  }

  function show(p) {
    var bar = document.getElementById("job-bar");
    bar.style.width = p.percent + "%";
    bar.setAttribute("aria-valuemax", String(p.total));
    bar.setAttribute("aria-valuenow", String(p.done));
    bar.setAttribute("aria-valuetext", p.text);
    setText("job-status", p.status_label);
    setText("job-counts", p.text);
    setText("job-rate", p.rate_text);
    setText("job-eta", p.eta_text ? " – " + p.eta_text : "");
    document.getElementById("job-cancel-pending").hidden = !p.cancel_requested;
    if (!p.finished) { return false; }
    var cancel = document.getElementById("job-cancel");
    if (cancel) { cancel.hidden = true; }
    var link = document.getElementById("job-download");
    if (p.download_url) {
      link.href = p.download_url;
      link.hidden = false;
    }
    var operation = document.getElementById("job-operation");
    if (operation && p.operation_url) {
      operation.href = p.operation_url;
      operation.hidden = false;
    }
    var undo = document.getElementById("job-undo");
    if (undo && p.may_undo && p.operation_id) {
      undo.querySelector("input[name=operation]").value = String(p.operation_id);
      undo.hidden = false;
    }
    setText("job-eta", "");
    setText("job-outcome", p.outcome);
    box.setAttribute("data-finished", "1");
    return true;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (p && show(p)) { return; }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); }); // the server restarting: try again a little later
  }

  window.setTimeout(poll, 1000);
}());
