/* Baton — behaviour of the handoff settings pages and the SLA board, wired through data-
 * attributes (no inline scripts). Every page works without it; this makes them quicker to use.
 *
 *   [data-day-row]                a weekday of the hours editor: its [type=checkbox] opens/closes
 *                                 the day; [data-add-window] / [data-remove-window] show or clear
 *                                 the second window ([data-second-window]).
 *   select[data-filterable]       a long multi-select gets a type-to-filter box and a summary of
 *                                 what is selected.
 *   select[data-subdivisions-target="id"]
 *                                 the country select refills the region select #id from the JSON in
 *                                 #subdivision-data.
 *   [data-target-words]           spells out the SLA target typed in hours + minutes.
 *   [data-shown-for="name=a,b"]   a field that applies only when the form's field `name` (radios or
 *                                 a select) is a or b: hidden otherwise (its value is kept).
 *   [data-due="ISO time"]         keeps "due in … / overdue by …" current on the SLA board.
 */
(function () {
  "use strict";

  document.documentElement.classList.add("js-settings");

  // --- Hours editor --------------------------------------------------------------------------
  function setupDayRow(row) {
    const toggle = row.querySelector(".day-name input[type=checkbox]");
    const second = row.querySelector("[data-second-window]");
    const add = row.querySelector("[data-add-window]");
    const remove = row.querySelector("[data-remove-window]");
    if (toggle) {
      toggle.addEventListener("change", function () {
        row.classList.toggle("is-closed", !toggle.checked);
        if (toggle.checked) {
          const first = row.querySelector(".day-window input[type=time]");
          if (first && !first.value) {
            // A day opened from scratch starts with the most common hours of the other days.
            const inputs = row.querySelectorAll(".day-window:not(.window-2) input[type=time]");
            const source = document.querySelector("[data-day-row]:not(.is-closed) .day-window:not(.window-2)");
            if (source && source !== inputs[0].parentElement) {
              const times = source.querySelectorAll("input[type=time]");
              inputs[0].value = times[0].value;
              inputs[1].value = times[1].value;
            }
          }
        }
      });
    }
    if (add && second) {
      add.addEventListener("click", function () {
        second.classList.remove("is-collapsed");
        add.classList.add("d-none");
        const input = second.querySelector("input");
        if (input) input.focus();
      });
    }
    if (remove && second) {
      remove.addEventListener("click", function () {
        second.querySelectorAll("input").forEach(function (input) { input.value = ""; });
        second.classList.add("is-collapsed");
        if (add) add.classList.remove("d-none");
      });
    }
  }

  // --- Filterable multi-select ---------------------------------------------------------------
  function setupFilterable(select) {
    const box = document.createElement("input");
    box.type = "search";
    box.className = "form-control form-control-sm filter-select-input";
    box.placeholder = select.dataset.filterable || "Type to filter";
    box.setAttribute("aria-label", box.placeholder);
    select.parentNode.insertBefore(box, select);

    const summary = document.createElement("div");
    summary.className = "selected-summary";
    summary.setAttribute("aria-live", "polite");
    select.parentNode.insertBefore(summary, select.nextSibling);

    function renderSummary() {
      summary.replaceChildren();
      Array.from(select.selectedOptions).forEach(function (option) {
        const chip = document.createElement("button");
        chip.type = "button";
        chip.className = "filter-chip border-0";
        chip.title = "Remove";
        chip.textContent = option.textContent + " ";
        const icon = document.createElement("i");
        icon.className = "bi bi-x";
        icon.setAttribute("aria-hidden", "true");
        chip.appendChild(icon);
        chip.addEventListener("click", function () {
          option.selected = false;
          renderSummary();
        });
        summary.appendChild(chip);
      });
    }

    box.addEventListener("input", function () {
      const term = box.value.trim().toLowerCase();
      Array.from(select.options).forEach(function (option) {
        option.hidden = term !== "" && !option.textContent.toLowerCase().includes(term) &&
          option.value.toLowerCase() !== term;
      });
    });
    // A plain click picks one more country instead of replacing the selection.
    select.addEventListener("mousedown", function (event) {
      const option = event.target;
      if (!(option instanceof HTMLOptionElement) || event.ctrlKey || event.metaKey || event.shiftKey) return;
      event.preventDefault();
      option.selected = !option.selected;
      select.focus();
      renderSummary();
    });
    select.addEventListener("change", renderSummary);
    renderSummary();
  }

  // --- Country -> region select ----------------------------------------------------------------
  function setupSubdivisions(country) {
    const target = document.getElementById(country.dataset.subdivisionsTarget);
    const data = document.getElementById("subdivision-data");
    if (!target || !data) return;
    const map = JSON.parse(data.textContent);
    country.addEventListener("change", function () {
      const options = map[country.value] || [];
      target.replaceChildren();
      const blank = document.createElement("option");
      blank.value = "";
      blank.textContent = options.length ? "The whole country" : "—";
      target.appendChild(blank);
      options.forEach(function (pair) {
        const option = document.createElement("option");
        option.value = pair[0];
        option.textContent = pair[1];
        target.appendChild(option);
      });
      target.disabled = options.length === 0;
    });
    if (!(map[country.value] || []).length && !target.value) target.disabled = true;
    // A disabled select is not submitted: enable it before the form goes.
    if (target.form) target.form.addEventListener("submit", function () { target.disabled = false; });
  }

  // --- SLA target in words -------------------------------------------------------------------
  function setupTargetWords(output) {
    const form = output.closest("form");
    const hours = form.querySelector("[name=target_hours]");
    const minutes = form.querySelector("[name=target_minutes]");
    const warn = form.querySelector("[name=warn_at_percent]");
    function words(total) {
      const h = Math.floor(total / 60);
      const m = Math.round(total % 60);
      if (h && m) return h + " h " + m + " min";
      return h ? h + " h" : m + " min";
    }
    function render() {
      const total = (parseInt(hours.value, 10) || 0) * 60 + (parseInt(minutes.value, 10) || 0);
      const percent = parseInt(warn.value, 10);
      if (!total) {
        output.textContent = "";
        return;
      }
      let text = "First touch within " + words(total) + " of business time";
      if (percent > 0 && percent < 100) text += "; the rep is warned after " + words(total * percent / 100);
      output.textContent = text + ".";
    }
    [hours, minutes, warn].forEach(function (input) { if (input) input.addEventListener("input", render); });
    render();
  }

  // --- Fields that apply only to some choices --------------------------------------------------
  function setupShownFor(element) {
    const form = element.closest("form");
    const [name, values] = element.dataset.shownFor.split("=");
    const allowed = values.split(",");
    const inputs = form ? form.querySelectorAll("[name='" + name + "']") : [];
    if (!inputs.length) return;
    function current() {
      const checked = Array.from(inputs).find(function (input) {
        return input.type === "radio" ? input.checked : true;
      });
      return checked ? checked.value : "";
    }
    function render() {
      element.classList.toggle("is-not-applicable", !allowed.includes(current()));
    }
    inputs.forEach(function (input) { input.addEventListener("change", render); });
    render();
  }

  // --- SLA board countdowns ------------------------------------------------------------------
  function duration(ms) {
    const minutes = Math.floor(Math.abs(ms) / 60000);
    const days = Math.floor(minutes / 1440);
    const hours = Math.floor((minutes % 1440) / 60);
    const rest = minutes % 60;
    if (days) return hours ? days + " d " + hours + " h" : days + " d";
    if (hours) return rest ? hours + " h " + rest + " min" : hours + " h";
    return rest ? rest + " min" : "under a minute";
  }
  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (element) {
      const left = Date.parse(element.dataset.due) - now;
      element.textContent = left > 0 ? "due in " + duration(left) : "overdue by " + duration(left);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-day-row]").forEach(setupDayRow);
    document.querySelectorAll("select[data-filterable]").forEach(setupFilterable);
    document.querySelectorAll("select[data-subdivisions-target]").forEach(setupSubdivisions);
    document.querySelectorAll("[data-target-words]").forEach(setupTargetWords);
    document.querySelectorAll("[data-shown-for]").forEach(setupShownFor);
    if (document.querySelector("[data-due]")) window.setInterval(tick, 30000);
  });
})();
