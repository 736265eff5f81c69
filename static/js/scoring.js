/* Scoring pages and score explanations, wired through data- attributes (no inline scripts).
 *
 *   <form data-fit-rule-form>         the fit rule form: the operator select offers only the
 *                                     operators that suit the chosen attribute (read from the
 *                                     JSON in #fit-operators), and only the matching value box
 *                                     (data-values-for="attr ...") shows.
 *   <button data-score-explain="id">  a score in a list: a Bootstrap popover shows the parts of
 *                                     the score, copied from <template id="id"> on the same row.
 *   <input data-fast-track-floor-input> the draft's "never fast-track below fit" field: the
 *                                     explanation's number (data-fast-track-floor) follows it.
 */
(function () {
  "use strict";

  // --- the fit rule form ---------------------------------------------------------------------

  function readOperators() {
    const data = document.getElementById("fit-operators");
    if (!data) return null;
    try {
      return JSON.parse(data.textContent);
    } catch (error) {
      return null;
    }
  }

  function setUpFitRuleForm(form) {
    const operatorsFor = readOperators();
    const attribute = form.querySelector("[data-fit-attribute]");
    const operator = form.querySelector("[data-fit-operator]");
    if (!operatorsFor || !attribute || !operator) return;
    const valueBoxes = Array.from(form.querySelectorAll("[data-values-for]"));

    function update() {
      const allowed = operatorsFor[attribute.value] || [];
      Array.from(operator.options).forEach(function (option) {
        const fits = allowed.indexOf(option.value) !== -1;
        option.hidden = !fits;
        option.disabled = !fits;
      });
      if (allowed.length && allowed.indexOf(operator.value) === -1) {
        operator.value = allowed[0];
      }
      valueBoxes.forEach(function (box) {
        const attributes = box.dataset.valuesFor.split(" ");
        box.hidden = attributes.indexOf(attribute.value) === -1;
      });
    }

    attribute.addEventListener("change", update);
    update();
  }

  document.querySelectorAll("form[data-fit-rule-form]").forEach(setUpFitRuleForm);

  // --- the fast-track floor -------------------------------------------------------------------

  document.querySelectorAll("[data-fast-track-floor-input]").forEach(function (input) {
    const shown = Array.from(document.querySelectorAll("[data-fast-track-floor]"));
    const saved = shown.length ? shown[0].textContent : "";
    input.addEventListener("input", function () {
      // Only a whole number reads as a floor; anything else shows the saved one until it is fixed.
      const value = input.value.trim();
      const text = /^-?\d+$/.test(value) ? value : saved;
      shown.forEach(function (element) { element.textContent = text; });
    });
  });

  // --- score explanations in lists ------------------------------------------------------------

  function setUpExplanations() {
    const buttons = document.querySelectorAll("[data-score-explain]");
    if (!buttons.length || !window.bootstrap || !window.bootstrap.Popover) return;
    buttons.forEach(function (button) {
      const template = document.getElementById(button.dataset.scoreExplain);
      if (!template) return;
      window.bootstrap.Popover.getOrCreateInstance(button, {
        container: "body",
        placement: "left",
        trigger: "hover focus",
        html: true,
        customClass: "score-popover",
        // A string goes through Bootstrap's sanitizer; the template holds escaped text only.
        content: function () { return template.innerHTML; },
      });
    });
    // Escape closes an open explanation, for keyboard users.
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") return;
      buttons.forEach(function (button) {
        const popover = window.bootstrap.Popover.getInstance(button);
        if (popover) popover.hide();
      });
    });
  }

  // bootstrap.bundle.js is deferred before this file, so it has run by now; wait for it anyway
  // in case the order ever changes.
  if (window.bootstrap) {
    setUpExplanations();
  } else {
    window.addEventListener("DOMContentLoaded", setUpExplanations);
  }
})();
