/* Baton — the SDR workspace, wired through data- attributes (no inline scripts).
 *
 *   [data-sla-clock]     an SLA clock pill. While it runs (data-status on_track, at_risk or
 *                        breached) it counts down to data-due every second, turns "At risk" at
 *                        data-warn and "Breached" at data-due. data-now is the server's clock when
 *                        the page was made, so a wrong clock on the laptop does not skew it.
 *   [data-reject-form]   offers only the reasons (option[data-use]) that fit the chosen target.
 *   [data-bant-form]     says "converts to SQL" on the submit button when the outcome is qualified.
 */
(function () {
  "use strict";
  if (window.batonWorkspace) return; // the lead-page panel may include this script too
  window.batonWorkspace = true;

  var RUNNING = { on_track: true, at_risk: true, breached: true };
  var LABELS = { on_track: "On track", at_risk: "At risk", breached: "Breached" };
  var TONES = { on_track: "sla-on-track", at_risk: "sla-at-risk", breached: "sla-breached" };
  var ICONS = { on_track: "bi-clock", at_risk: "bi-hourglass-split", breached: "bi-exclamation-octagon-fill" };

  function pad(value) {
    return String(value).padStart(2, "0");
  }

  // Same format as handoff.selectors.workspace.remaining_text.
  function format(milliseconds) {
    var seconds = Math.floor(Math.abs(milliseconds) / 1000);
    var days = Math.floor(seconds / 86400);
    seconds -= days * 86400;
    var hours = Math.floor(seconds / 3600);
    seconds -= hours * 3600;
    var minutes = Math.floor(seconds / 60);
    seconds -= minutes * 60;
    if (days) return days + "d " + pad(hours) + "h " + pad(minutes) + "m";
    if (hours) return hours + "h " + pad(minutes) + "m " + pad(seconds) + "s";
    return minutes + "m " + pad(seconds) + "s";
  }

  function setStatus(clock, status) {
    clock.dataset.status = status;
    Object.keys(TONES).forEach(function (key) { clock.classList.toggle(TONES[key], key === status); });
    var label = clock.querySelector("[data-sla-label]");
    if (label) label.textContent = LABELS[status];
    var icon = clock.querySelector("[data-sla-icon]");
    if (icon) {
      Object.keys(ICONS).forEach(function (key) { icon.classList.toggle(ICONS[key], key === status); });
    }
    var row = clock.closest("[data-status]:not([data-sla-clock])");
    if (row) row.dataset.status = status;
  }

  function tick() {
    var clientNow = Date.now();
    document.querySelectorAll("[data-sla-clock]").forEach(function (clock) {
      if (!RUNNING[clock.dataset.status]) return;
      var due = Date.parse(clock.dataset.due);
      var warn = Date.parse(clock.dataset.warn);
      if (isNaN(due)) return;
      if (clock.batonOffset === undefined) {
        var serverNow = Date.parse(clock.dataset.now);
        clock.batonOffset = isNaN(serverNow) ? 0 : serverNow - clientNow;
      }
      var now = clientNow + clock.batonOffset;
      var status = now >= due ? "breached" : (!isNaN(warn) && now >= warn ? "at_risk" : "on_track");
      if (status !== clock.dataset.status) setStatus(clock, status);
      var remaining = clock.querySelector("[data-sla-remaining]");
      if (remaining) {
        remaining.textContent = status === "breached" ? format(now - due) + " overdue" : format(due - now) + " left";
      }
    });
  }

  function filterReasons(form) {
    var target = form.querySelector("input[name=to]:checked");
    var select = form.querySelector("[data-reason-select]");
    if (!select) return;
    var use = target ? (target.value === "recycled" ? "recycle" : "disqualify") : "";
    Array.prototype.forEach.call(select.options, function (option) {
      if (!option.value) return;
      var fits = !use || option.dataset.use === use || option.dataset.use === "both";
      option.hidden = !fits;
      option.disabled = !fits;
      if (!fits && option.selected) select.value = "";
    });
  }

  function showConvertHint(form) {
    var qualified = form.querySelector("input[name=outcome][value=qualified]");
    var hint = form.querySelector("[data-convert-hint]");
    var button = form.querySelector("[data-call-submit]");
    var converting = Boolean(qualified && qualified.checked);
    if (hint) hint.hidden = !converting;
    if (button) {
      button.lastChild.textContent = converting ? "Log the call and convert to SQL" : "Log the call";
    }
  }

  document.addEventListener("change", function (event) {
    var element = event.target;
    if (!(element instanceof HTMLElement) || !element.form) return;
    if (element.name === "to" && element.form.hasAttribute("data-reject-form")) filterReasons(element.form);
    if (element.name === "outcome" && element.form.hasAttribute("data-bant-form")) showConvertHint(element.form);
  });

  function start() {
    document.querySelectorAll("form[data-reject-form]").forEach(filterReasons);
    document.querySelectorAll("form[data-bant-form]").forEach(showConvertHint);
    tick();
    window.setInterval(tick, 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
