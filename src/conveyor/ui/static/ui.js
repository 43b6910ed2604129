// Conveyor dashboard: charts from /api/ drawn with the bundled plotly.js, and the
// confirmed alias moves (promote, roll back, canary share). No framework, no build step.
"use strict";

(function () {
  function text(tag, cls, value) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    el.textContent = value;
    return el;
  }

  async function getJSON(url) {
    var response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    var body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    if (!response.ok) {
      var detail = body && body.detail ? body.detail : response.status + " " + response.statusText;
      throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
    }
    return body;
  }

  async function drawCharts(container) {
    var url = container.getAttribute("data-figures");
    container.textContent = "";
    try {
      var data = await getJSON(url);
      (data.notes || []).forEach(function (note) { container.appendChild(text("p", "muted small wide", note)); });
      if (!data.figures.length && !(data.notes || []).length) {
        container.appendChild(text("p", "muted", "No plot for this page."));
      }
      data.figures.forEach(function (item) {
        var div = document.createElement("div");
        div.className = "plot" + (item.id.indexOf("heatmap") >= 0 ? " wide" : "");
        div.id = "plot-" + item.id;
        div.setAttribute("data-title", item.title);
        // A fixed height up front keeps the grid from reflowing while plots draw.
        div.style.height = ((item.figure.layout && item.figure.layout.height) || 360) + "px";
        container.appendChild(div);
        window.Plotly.newPlot(div, item.figure.data, item.figure.layout, { displaylogo: false, responsive: true });
      });
      container.setAttribute("data-rendered", String(data.figures.length));
    } catch (err) {
      container.appendChild(text("p", "alert error", "Charts could not be loaded: " + err.message));
      container.setAttribute("data-rendered", "error");
    }
  }

  function compareSelection() {
    var form = document.getElementById("compare-form");
    if (!form) return;
    var button = document.getElementById("compare-selected");
    function update() {
      var n = form.querySelectorAll("input[name=runs]:checked").length;
      button.disabled = n < 2;
      button.textContent = n >= 2 ? "Compare " + n : "Compare";
    }
    form.addEventListener("change", update);
    update();
  }

  function onlyDiffering() {
    var box = document.getElementById("only-differing");
    var table = document.getElementById("compare-params");
    if (!box || !table) return;
    box.addEventListener("change", function () { table.classList.toggle("only-diff", box.checked); });
  }

  function modelActions() {
    var dialog = document.getElementById("confirm");
    if (!dialog) return;
    var form = document.getElementById("confirm-form");
    var errorBox = document.getElementById("confirm-error");
    var current = null;

    function open(button) {
      var action = button.getAttribute("data-action");
      var model = button.getAttribute("data-model");
      var version = button.getAttribute("data-version");
      current = { action: action, model: model, version: version };
      var message = {
        promote: "Make " + model + " v" + version + " the champion? Servers watching the alias switch to it.",
        rollback: "Roll " + model + " back to the previous champion? Servers watching the alias switch back.",
        canary: "Set the share of requests " + model + "'s challenger receives on every server.",
      }[action];
      document.getElementById("confirm-title").textContent =
        { promote: "Promote", rollback: "Roll back", canary: "Canary traffic" }[action];
      document.getElementById("confirm-text").textContent = message;
      document.getElementById("force-row").hidden = !(action === "promote" && button.getAttribute("data-rejected") === "true");
      document.getElementById("traffic-row").hidden = action !== "canary";
      document.getElementById("reason-row").hidden = action === "canary";
      var traffic = button.getAttribute("data-traffic");
      document.getElementById("confirm-traffic").value = traffic ? (parseFloat(traffic) * 100).toFixed(1) : "";
      errorBox.hidden = true;
      dialog.showModal();
      document.getElementById("confirm-reason").focus();
    }

    document.querySelectorAll("button[data-action]").forEach(function (button) {
      button.addEventListener("click", function () { open(button); });
    });
    document.getElementById("confirm-cancel").addEventListener("click", function () { dialog.close(); });

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var reason = document.getElementById("confirm-reason").value.trim();
      var body = {};
      if (current.action !== "canary") {
        if (!reason) {
          errorBox.textContent = "Give a reason: it is recorded in the alias history.";
          errorBox.hidden = false;
          return;
        }
        body.reason = reason;
      }
      if (current.action === "promote") {
        body.version = parseInt(current.version, 10);
        body.force = document.getElementById("confirm-force").checked;
      }
      if (current.action === "canary") {
        var share = document.getElementById("confirm-traffic").value.trim();
        body.traffic = share === "" ? null : parseFloat(share) / 100;
      }
      var headers = { "Content-Type": "application/json", Accept: "application/json" };
      var keyInput = document.getElementById("confirm-key");
      if (keyInput && keyInput.value) headers["X-API-Key"] = keyInput.value;
      var ok = document.getElementById("confirm-ok");
      ok.disabled = true;
      try {
        var response = await fetch("/api/models/" + encodeURIComponent(current.model) + "/" + current.action, {
          method: "POST", headers: headers, body: JSON.stringify(body), credentials: "same-origin",
        });
        var result = null;
        try { result = await response.json(); } catch (_) { result = null; }
        if (!response.ok) {
          var detail = result && result.detail ? result.detail : response.status + " " + response.statusText;
          errorBox.textContent = typeof detail === "string" ? detail : JSON.stringify(detail);
          errorBox.hidden = false;
          return;
        }
        dialog.close();
        window.location.reload();
      } finally {
        ok.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-figures]").forEach(drawCharts);
    compareSelection();
    onlyDiffering();
    modelActions();
  });
})();
