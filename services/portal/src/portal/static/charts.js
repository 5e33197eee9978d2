// Draws each report chart from its Vega-Lite specification (the JSON script element named by
// the container's data-chart-spec) with vega-embed, as SVG. Nothing here needs the
// Content-Security-Policy loosened: `ast: true` makes Vega evaluate its expressions with its
// interpreter instead of generated functions (no eval), and vega-embed's injected stylesheet,
// action menu and tooltip are off (no inline <style>). Without JavaScript, or if drawing fails,
// the table the chart summarises is on the page just below.
(function () {
  "use strict";
  if (typeof window.vegaEmbed !== "function") {
    return;
  }
  var containers = document.querySelectorAll("[data-chart-spec]");
  Array.prototype.forEach.call(containers, function (container) {
    var source = document.getElementById(container.getAttribute("data-chart-spec"));
    if (!source) {
      return;
    }
    var spec = JSON.parse(source.textContent);
    // The figure's caption says what the chart shows (and wraps on a phone, which an SVG
    // title does not): the spec keeps its title for anyone using it on its own.
    delete spec.title;
    var figure = container.closest("figure");
    window
      .vegaEmbed(container, spec, {
        ast: true,
        actions: false,
        renderer: "svg",
        defaultStyle: false,
        tooltip: false,
      })
      .then(function (result) {
        var svg = container.querySelector("svg");
        if (svg) {
          svg.setAttribute("role", "img");
          svg.setAttribute("aria-label", spec.description || "");
        }
        if (figure) {
          figure.classList.add("csm-chart--drawn");
        }
        return result;
      })
      .catch(function (error) {
        container.textContent = "";
        if (window.console) {
          window.console.error("Chart not drawn:", error);
        }
      });
  });
})();
