// Search-as-you-type for a report's subject picker: GOV.UK's accessible-autocomplete over the
// portal's /reports/<name>/choices (the areas or organisations this person may pick). Without
// JavaScript the same page works as a search form and a list of matches.
(function () {
  "use strict";
  var form = document.querySelector("form[data-module='csm-subject-search']");
  if (!form || typeof window.accessibleAutocomplete !== "function" || !window.fetch) {
    return;
  }
  var input = form.querySelector("input[name='find']");
  var subject = form.getAttribute("data-subject");
  var action = form.getAttribute("action");
  var cycle = form.querySelector("input[name='cycle']");
  if (!input || !subject || !action) {
    return;
  }
  var escape = function (text) {
    var div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  };
  var named = function (choice) {
    return choice ? choice.name + " (" + choice.code + ")" : "";
  };
  var pending = null;
  var source = function (query, populate) {
    window.clearTimeout(pending);
    pending = window.setTimeout(function () {
      window
        .fetch(action + "/choices?q=" + encodeURIComponent(query), {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        })
        .then(function (response) {
          return response.ok ? response.json() : { subjects: [] };
        })
        .then(function (found) {
          populate(found.subjects || []);
        })
        .catch(function () {
          populate([]);
        });
    }, 150);
  };
  var container = document.createElement("div");
  container.className = "csm-autocomplete";
  var describedBy = input.getAttribute("aria-describedby");
  input.parentNode.insertBefore(container, input);
  input.parentNode.removeChild(input);
  window.accessibleAutocomplete({
    element: container,
    id: "find",
    name: "find",
    defaultValue: input.value,
    minLength: 1,
    showNoOptionsFound: true,
    tNoResults: function () {
      return "Nothing matches: try part of the name or the code";
    },
    source: source,
    templates: {
      inputValue: named,
      suggestion: function (choice) {
        return typeof choice === "string" ? escape(choice) : escape(named(choice));
      },
    },
    onConfirm: function (choice) {
      if (!choice || !choice.code) {
        return;
      }
      var query = subject + "=" + encodeURIComponent(choice.code);
      if (cycle && cycle.value) {
        query = "cycle=" + encodeURIComponent(cycle.value) + "&" + query;
      }
      window.location.assign(action + "?" + query);
    },
  });
  var typed = container.querySelector("input");
  if (typed && describedBy) {
    typed.setAttribute(
      "aria-describedby",
      (typed.getAttribute("aria-describedby") || "") + " " + describedBy,
    );
  }
})();
