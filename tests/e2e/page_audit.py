"""Every page a browser test visits, checked as a person would meet it: screenshots at a
desktop's and a phone's width (1280 and 375 px), the page no wider than the window at either
(a wide table scrolls inside its own box), and axe-core's accessibility rules (from npm, in
services/portal/node_modules) run at both widths.

`PageAudit.check(page, name)` does all of that for the page as it is; `PageAudit.problems()`
lists what must not be there (any critical or serious violation, any `region` violation, any
page wider than its window), and `PageAudit.write()` keeps the whole record beside the
screenshots (`axe-results.json`), moderate and minor findings included."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "services" / "portal" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (1280, 375)
#: What no page may have: these impacts, and content outside every landmark.
BLOCKING_IMPACTS = ("critical", "serious")
BLOCKING_RULES = ("region",)

#: axe on the whole document, violations only, each with the elements it found.
RUN_AXE = """async () => {
  const result = await window.axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 10),
  }));
}"""
MEASURE = """() => ({scrollWidth: document.documentElement.scrollWidth,
  innerWidth: window.innerWidth})"""


def shots_dir(default: Path) -> Path:
    """Where screenshots go: `CSM_SHOTS_DIR` when set, else the test's own artefacts."""
    chosen = os.environ.get("CSM_SHOTS_DIR")
    return Path(chosen) if chosen else default


@dataclass
class PageAudit:
    out: Path
    #: Each checked page's findings: name -> {url, widths: {px: {...}}, violations: [...]}.
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)
    _source: str = ""

    def _axe(self, page: Any) -> list[dict[str, Any]]:
        if not self._source:
            self._source = AXE.read_text()
        # Evaluated through the DevTools protocol, not as a <script>: the portal's
        # Content-Security-Policy (rightly) refuses inline scripts, and no page is loosened.
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(self._source)
        found: list[dict[str, Any]] = page.evaluate(RUN_AXE)
        return found

    def check(self, page: Any, name: str, *, axe: bool = True) -> None:
        """Screenshot, measure and run axe on the page at each width; the viewport is put back
        as it was. `axe=False` for a page in a browser with JavaScript turned off, where axe
        cannot run (the same page with JavaScript is checked)."""
        self.out.mkdir(parents=True, exist_ok=True)
        before = page.viewport_size or {"width": 1280, "height": 720}
        record: dict[str, Any] = {"url": page.url, "widths": {}, "violations": []}
        seen: set[tuple[str, str]] = set()
        try:
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                size = page.evaluate(MEASURE)
                # caret="initial": hiding the caret puts a style attribute on every input,
                # which an htmx swap landing meanwhile copies onto the new inputs, and the CSP
                # rightly refuses that.
                page.screenshot(
                    path=str(self.out / f"{name}-{width}.png"), full_page=True, caret="initial"
                )
                record["widths"][width] = size
                for v in self._axe(page) if axe else []:
                    if (v["id"], str(v["nodes"])) not in seen:
                        seen.add((v["id"], str(v["nodes"])))
                        record["violations"].append({**v, "width": width})
        finally:
            page.set_viewport_size(before)
        self.pages[name] = record

    def counts(self) -> Counter[str]:
        """Violations found, by impact (each rule on each page once per set of elements)."""
        return Counter(v["impact"] for p in self.pages.values() for v in p["violations"])

    def problems(self) -> list[str]:
        """Everything that must not be there, one line each."""
        out = []
        for name, p in self.pages.items():
            for width, size in p["widths"].items():
                if size["scrollWidth"] > size["innerWidth"]:
                    out.append(
                        f"{name} ({p['url']}) is {size['scrollWidth']} px wide "
                        f"in a {width} px window"
                    )
            for v in p["violations"]:
                if v["impact"] in BLOCKING_IMPACTS or v["id"] in BLOCKING_RULES:
                    out.append(
                        f"{name} ({p['url']}) at {v['width']} px: {v['impact']} {v['id']} "
                        f"({v['help']}) on {v['nodes']}"
                    )
        return out

    def write(self) -> Path:
        """The whole record as JSON beside the screenshots."""
        path = self.out / "axe-results.json"
        summary = {"pages": len(self.pages), "by_impact": dict(self.counts())}
        path.write_text(json.dumps({"summary": summary, "pages": self.pages}, indent=1))
        return path
