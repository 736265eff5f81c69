/* The MQL queue: row selection, the bulk bar and the reason dialogs. Wired through data-
 * attributes (no inline scripts, so a strict Content-Security-Policy can forbid them).
 *
 *   [data-queue-select]          a row's checkbox (name="lead", form="queue-bulk-form")
 *   [data-queue-select-all]      the header checkbox: every row on this page
 *   [data-queue-bulkbar]         the bar; [data-queue-count] says how many are selected and
 *                                [data-queue-needs-selection] buttons are disabled at zero
 *   [data-queue-modal="#id"]     opens the reason dialog instead of following the link /
 *                                submitting; with data-lead-id (+ data-lead-name) for one row,
 *                                with data-queue-bulk for the selection
 *   [data-queue-modal-form]      the dialog's form; [data-queue-leads] receives the lead ids,
 *                                [data-queue-subject] says whom it is about
 *
 * Without JavaScript every row action still works: "Hand off" posts, and the "…" actions
 * open their own page where the reason is chosen.
 */
(function () {
  "use strict";

  const bar = document.querySelector("[data-queue-bulkbar]");
  if (!bar) return;

  const selectAll = document.querySelector("[data-queue-select-all]");
  const countLabel = bar.querySelector("[data-queue-count]");
  const idleText = countLabel ? countLabel.textContent : "";
  let lastClicked = null;

  function boxes() {
    return Array.from(document.querySelectorAll("[data-queue-select]"));
  }

  function selected() {
    return boxes().filter(function (box) { return box.checked; });
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function refresh() {
    const all = boxes();
    const chosen = selected();
    const n = chosen.length;
    all.forEach(function (box) {
      const item = box.closest("[data-queue-item]");
      if (item) item.classList.toggle("is-selected", box.checked);
    });
    bar.classList.toggle("is-active", n > 0);
    if (countLabel) countLabel.textContent = n ? plural(n, "lead") + " selected" : idleText;
    bar.querySelectorAll("[data-queue-needs-selection]").forEach(function (button) {
      button.disabled = n === 0;
    });
    if (selectAll) {
      selectAll.checked = n > 0 && n === all.length;
      selectAll.indeterminate = n > 0 && n < all.length;
    }
  }

  // Shift-click selects the range from the last clicked checkbox.
  document.addEventListener("click", function (event) {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || !box.hasAttribute("data-queue-select")) return;
    const all = boxes();
    if (event.shiftKey && lastClicked && lastClicked !== box) {
      const from = all.indexOf(lastClicked);
      const to = all.indexOf(box);
      if (from >= 0 && to >= 0) {
        all.slice(Math.min(from, to), Math.max(from, to) + 1).forEach(function (other) {
          other.checked = box.checked;
        });
      }
    }
    lastClicked = box;
    refresh();
  });

  document.addEventListener("change", function (event) {
    const box = event.target;
    if (box === selectAll) {
      boxes().forEach(function (other) { other.checked = selectAll.checked; });
    }
    if (box === selectAll || (box instanceof HTMLElement && box.hasAttribute("data-queue-select"))) refresh();
  });

  // The reason dialogs, for one row or for the selection.
  function openDialog(trigger) {
    const modal = document.querySelector(trigger.dataset.queueModal);
    if (!modal || !window.bootstrap) return false;
    const form = modal.querySelector("[data-queue-modal-form]");
    const holder = form.querySelector("[data-queue-leads]");
    const subject = form.querySelector("[data-queue-subject]");
    let ids;
    let text;
    if (trigger.hasAttribute("data-queue-bulk")) {
      const chosen = selected();
      ids = chosen.map(function (box) { return box.value; });
      text = chosen.length === 1
        ? chosen[0].getAttribute("aria-label").replace(/^Select /, "")
        : plural(chosen.length, "selected lead");
    } else {
      ids = [trigger.dataset.leadId];
      text = trigger.dataset.leadName || "This lead";
    }
    if (!ids.length) return true; // nothing selected: the disabled button cannot get here
    holder.replaceChildren.apply(holder, ids.map(function (id) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = "lead";
      input.value = id;
      return input;
    }));
    if (subject) subject.textContent = text;
    window.bootstrap.Modal.getOrCreateInstance(modal).show();
    return true;
  }

  document.addEventListener("click", function (event) {
    const trigger = event.target instanceof Element ? event.target.closest("[data-queue-modal]") : null;
    if (!trigger) return;
    if (openDialog(trigger)) event.preventDefault();
  });

  document.querySelectorAll(".modal[id]").forEach(function (modal) {
    modal.addEventListener("shown.bs.modal", function () {
      const first = modal.querySelector("select, textarea");
      if (first) first.focus();
    });
  });

  // A submitted action cannot be sent twice by a double click.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
    if (form.dataset.submitted) {
      event.preventDefault();
      return;
    }
    window.setTimeout(function () {
      if (!event.defaultPrevented) form.dataset.submitted = "1";
    }, 0);
  });

  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submitted]").forEach(function (form) {
      delete form.dataset.submitted;
    });
    refresh();
  });

  refresh();
})();
