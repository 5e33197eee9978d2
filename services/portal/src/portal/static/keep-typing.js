// Keeps what people type while a follow-up re-render is on its way. A question others depend
// on posts the form for a preview (htmx) and the questions are swapped for the server's
// rendering of the values sent; a field changed after the request left would lose its new
// value (seen in the browser journey under load). So: remember what was sent, and after the
// swap put back every field the person changed since.
(function () {
  "use strict";

  function fields(form) {
    var out = {};
    form.querySelectorAll("input[id], select[id], textarea[id]").forEach(function (el) {
      out[el.id] = el.type === "checkbox" || el.type === "radio" ? el.checked : el.value;
    });
    return out;
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt.closest("form");
    if (form && event.detail.xhr) event.detail.xhr.csmSent = fields(form);
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    var form = event.detail.elt.closest("form");
    if (!xhr || !xhr.csmSent || !form) return;
    var now = fields(form);
    xhr.csmEdited = Object.keys(now).filter(function (id) {
      return !(id in xhr.csmSent) || xhr.csmSent[id] !== now[id];
    }).map(function (id) { return [id, now[id]]; });
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var edited = event.detail.xhr && event.detail.xhr.csmEdited;
    if (!edited) return;
    edited.forEach(function (pair) {
      var el = document.getElementById(pair[0]);
      if (!el) return; // the question is hidden now
      if (el.type === "checkbox" || el.type === "radio") el.checked = pair[1];
      else el.value = pair[1];
    });
  });
})();
