// A questionnaire's pages, progressively enhanced (everything works without it):
// - each running total beside a sum rule's total question follows the parts as people type,
//   and the rule's message shows while they do not add up (the server says the same on save);
//   likewise a "no more than" rule beside its part: the whole it is held to, and the message
//   while the part is over it;
// - leaving a questionnaire's page by a link with answers typed but not saved asks first (every
//   button of the page saves them);
// - the print page's "Print this page" button.
(function () {
  "use strict";

  function number(text) {
    var cleaned = String(text || "").replace(/[£,%\s]/g, "");
    if (cleaned === "" || isNaN(Number(cleaned))) return null;
    return Number(cleaned);
  }

  // Sums to at most 6 decimal places, shown as people write them (12,500.5).
  function shown(value) {
    var rounded = Math.round(value * 1e6) / 1e6;
    return rounded.toLocaleString("en-GB", { maximumFractionDigits: 6 });
  }

  function field(form, id) {
    return form.querySelector('[name="q.' + id + '"]');
  }

  function update(box) {
    var form = box.closest("form");
    if (!form) return;
    var sum = number(box.getAttribute("data-elsewhere")) || 0;
    box.getAttribute("data-parts").split(" ").forEach(function (id) {
      var input = field(form, id);
      if (input) sum += number(input.value) || 0;
    });
    var totalInput = field(form, box.getAttribute("data-running-total"));
    var total = totalInput ? number(totalInput.value) : null;
    box.querySelector("[data-sum]").textContent = shown(sum);
    var of = box.querySelector("[data-of]");
    of.textContent = "";
    if (total !== null) {
      of.append("; the total is ");
      var strong = document.createElement("strong");
      strong.textContent = shown(total);
      of.append(strong);
    }
    var met = total === null || Math.abs(sum - total) < 1e-9;
    box.querySelector("[data-message]").classList.toggle("csm-rule-message--met", met);
  }

  // A "no more than" rule: the whole as typed (or as stored, on another page), and the
  // rule's message while the part is over it.
  function updateLimit(box) {
    var form = box.closest("form");
    if (!form) return;
    var leftInput = field(form, box.getAttribute("data-limit-left"));
    var rightInput = field(form, box.getAttribute("data-limit-right"));
    var left = leftInput ? number(leftInput.value) : null;
    var right = rightInput ? number(rightInput.value) : number(box.getAttribute("data-stored-right"));
    box.querySelector("[data-right]").textContent = right === null ? "not answered yet" : shown(right);
    var met = left === null || right === null || left <= right + 1e-9;
    box.querySelector("[data-message]").classList.toggle("csm-rule-message--met", met);
  }

  function updateAll() {
    document.querySelectorAll("[data-running-total]").forEach(update);
    document.querySelectorAll("[data-limit-left]").forEach(updateLimit);
  }

  document.addEventListener("input", function (event) {
    if (event.target.name && event.target.name.indexOf("q.") === 0) updateAll();
  });
  document.addEventListener("htmx:afterSwap", updateAll);

  var unsaved = false;
  document.addEventListener("input", function (event) {
    if (event.target.closest && event.target.closest("#questions")) unsaved = true;
  });
  document.addEventListener("change", function (event) {
    if (event.target.closest && event.target.closest("#questions")) unsaved = true;
  });
  document.addEventListener("submit", function () { unsaved = false; });
  window.addEventListener("beforeunload", function (event) {
    if (!unsaved) return;
    event.preventDefault();
    event.returnValue = ""; // older browsers need it set to ask
  });
  document.addEventListener("DOMContentLoaded", function () {
    updateAll();
    if (document.querySelector("form[data-unsaved]")) unsaved = true;
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
  });
})();
