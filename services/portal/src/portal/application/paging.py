"""Long lists a page at a time, without JavaScript: the links of a GOV.UK pagination
component and of sortable table headers, each a GET of the same page with the filters kept.

The pages hand these to the shared `_pagination.html` macros; the services do the filtering,
sorting and paging (the portal never holds a whole national list)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

#: Query values: one text, none, or (a repeated name) several.
Params = Mapping[str, str | int | None]


def link(path: str, params: Params, **changes: str | int | None) -> str:
    """`path` with `params` as its query string, `changes` applied; empty values and the
    first page left out, so the plainest list has the plainest address."""
    merged = {**params, **changes}
    kept = [
        (k, str(v))
        for k, v in merged.items()
        if v not in (None, "") and not (k == "page" and v == 1)
    ]
    return f"{path}?{urlencode(kept)}" if kept else path


@dataclass(frozen=True)
class Pager:
    """The GOV.UK pagination component's data: previous, next and the numbered pages
    (the first, the last and those next to the current, with ellipses between)."""

    previous: str | None
    next: str | None
    items: Sequence[Mapping[str, object]]
    page: int = 1
    pages: int = 1
    #: The previous link's words when it is not simply the page before.
    previous_text: str | None = None
    #: A link back to the start, for lists paged by keys (no numbered pages to jump to).
    first: str | None = None

    @property
    def component(self) -> dict[str, object]:
        """`govukPagination`'s parameters."""
        # Without items the component draws its block-level previous and next links.
        out: dict[str, object] = {"items": list(self.items)} if self.items else {}
        if self.previous:
            previous = {"href": self.previous}
            if self.previous_text:
                previous["text"] = self.previous_text
            out["previous"] = previous
        if self.next:
            out["next"] = {"href": self.next}
        return out

    @property
    def shown(self) -> bool:
        return bool(self.previous or self.next)


def numbered(path: str, params: Params, page: int, pages: int) -> Pager:
    """Numbered pages of a list whose length is known."""
    wanted = sorted({1, pages, page - 1, page, page + 1} & set(range(1, pages + 1)))
    items: list[Mapping[str, object]] = []
    last = 0
    for number in wanted:
        if number - last > 1:
            items.append({"ellipsis": True})
        items.append(
            {
                "number": f"{number:,}",
                "href": link(path, params, page=number),
                "current": number == page,
                "visuallyHiddenText": f"Page {number:,} of {pages:,}",
            }
        )
        last = number
    return Pager(
        previous=link(path, params, page=page - 1) if page > 1 else None,
        next=link(path, params, page=page + 1) if page < pages else None,
        items=items,
        page=page,
        pages=pages,
    )


def keyset(
    path: str,
    params: Params,
    *,
    back: tuple[str, str] | None,
    forward: tuple[str, str] | None,
    cursors: Sequence[str],
) -> Pager:
    """Previous and next links of a list the service pages by keys (`back` and `forward`:
    each a (parameter, value) the service gave for this page, None at the start or the
    end), and "First page" whenever there is a way back. `cursors` are every cursor
    parameter the list reads: each link sets one and drops the others."""
    cleared: dict[str, str | int | None] = dict.fromkeys(cursors)

    def to(key: tuple[str, str]) -> str:
        return link(path, params, **{**cleared, key[0]: key[1]})

    return Pager(
        previous=to(back) if back else None,
        next=to(forward) if forward else None,
        items=[],
        first=link(path, params, **cleared) if back else None,
    )


@dataclass(frozen=True)
class SortHeader:
    """One sortable column's header: its link, and `aria-sort` for the current order."""

    key: str
    label: str
    href: str
    aria_sort: str


def sort_headers(
    path: str,
    params: Params,
    columns: Sequence[tuple[str, str]],
    *,
    sort: str,
    descending: bool,
) -> dict[str, SortHeader]:
    """Each sortable column's header: choosing the current column again reverses it,
    choosing another sorts by it from the start (always back to page one)."""
    out = {}
    for key, label in columns:
        current = key == sort
        order = ("asc" if descending else "desc") if current else "asc"
        out[key] = SortHeader(
            key=key,
            label=label,
            href=link(path, params, sort=key, order=order, page=None),
            aria_sort=("descending" if descending else "ascending") if current else "none",
        )
    return out


def counted_options(
    options: Sequence[tuple[str, str]],
    chosen: str | None,
    counts: Mapping[str, int],
    all_text: str,
) -> list[dict[str, object]]:
    """A filter select's items, each with how many it would show ("London (1,204)"), the
    first "all" (no filter)."""
    items: list[dict[str, object]] = [{"value": "", "text": all_text}]
    for value, text in options:
        items.append(
            {
                "value": value,
                "text": f"{text} ({counts.get(value, 0):,})",
                "selected": value == chosen,
            }
        )
    return items


def plain_options(
    options: Sequence[tuple[str, str]], chosen: str | None, all_text: str
) -> list[dict[str, object]]:
    """A filter select's items without counts, the first "all" (no filter)."""
    items: list[dict[str, object]] = [{"value": "", "text": all_text}]
    items += [{"value": v, "text": text, "selected": v == chosen} for v, text in options]
    return items
