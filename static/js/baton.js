/* Baton page behaviour, wired through data- attributes (no inline scripts, so a strict
 * Content-Security-Policy can forbid them).
 *
 *   <form data-clean-submit>     GET forms: empty fields are left out of the URL, so shared
 *                                links stay short (?stage=mql, not ?q=&stage=mql&owner=...).
 *   <select data-autosubmit>     submits its form as soon as the choice changes.
 *   <form data-confirm="...">    asks before submitting.
 */
(function () {
  "use strict";

  function isEmpty(element) {
    if (!element.name || element.disabled) return false;
    if (element.type === "checkbox" || element.type === "radio") return false;
    if (element.tagName === "SELECT" && element.multiple) return element.selectedOptions.length === 0;
    return String(element.value).trim() === "";
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;

    const question = form.dataset.confirm;
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }

    if (form.hasAttribute("data-clean-submit")) {
      const emptied = Array.from(form.elements).filter(isEmpty);
      emptied.forEach(function (element) { element.disabled = true; });
      // Re-enable after the browser has read the form, so Back shows the fields again.
      window.setTimeout(function () {
        emptied.forEach(function (element) { element.disabled = false; });
      }, 0);
    }
  });

  document.addEventListener("change", function (event) {
    const element = event.target;
    if (element instanceof HTMLElement && element.hasAttribute("data-autosubmit") && element.form) {
      element.form.requestSubmit();
    }
  });

  // Pages restored from the back/forward cache: make sure nothing stays disabled.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-clean-submit] [disabled]").forEach(function (element) {
      element.disabled = false;
    });
  });
})();
