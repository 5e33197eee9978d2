"""The links of long lists (`application.paging`): filters kept, empty values and page one
left out, numbered pages with ellipses, keys both ways, sortable headers' aria-sort."""

from __future__ import annotations

from portal.application.paging import counted_options, keyset, link, numbered, sort_headers


def test_links_keep_the_filters_and_drop_what_is_empty() -> None:
    params = {"region": "london", "q": None, "kind": "", "sort": "name"}
    assert link("/p", params) == "/p?region=london&sort=name"
    assert link("/p", params, page=1) == "/p?region=london&sort=name"
    assert link("/p", params, page=3) == "/p?region=london&sort=name&page=3"
    assert link("/p", {"q": "a&b=c"}) == "/p?q=a%26b%3Dc"
    assert link("/p", {}) == "/p"


def test_numbered_pages_with_ellipses() -> None:
    pager = numbered("/p", {"status": "overdue"}, page=7, pages=200)
    shown = [i.get("number", "…") for i in pager.items]
    assert shown == ["1", "…", "6", "7", "8", "…", "200"]
    current = [i for i in pager.items if i.get("current")]
    assert current[0]["href"] == "/p?status=overdue&page=7"
    assert pager.previous == "/p?status=overdue&page=6"
    assert pager.next == "/p?status=overdue&page=8"
    first = numbered("/p", {}, page=1, pages=1)
    assert not first.shown and first.component == {"items": [first.items[0]]}
    assert numbered("/p", {}, page=1, pages=3).previous is None


def test_keys_go_forward_back_and_to_the_start() -> None:
    pager = keyset(
        "/o",
        {"kind": "pct", "after": "R049"},
        back=("before", "R050"),
        forward=("after", "R099"),
        cursors=("after", "before"),
    )
    # Each link sets its own key and drops the other; the filter stays.
    assert pager.next == "/o?kind=pct&after=R099"
    assert pager.component["previous"] == {"href": "/o?kind=pct&before=R050"}
    assert pager.first == "/o?kind=pct"
    assert "items" not in pager.component  # block-level previous and next
    start = keyset("/o", {}, back=None, forward=("after", "R049"), cursors=("after", "before"))
    assert start.previous is None and start.first is None and start.shown
    assert not keyset("/o", {}, back=None, forward=None, cursors=("after",)).shown


def test_sortable_headers_say_the_order_and_reverse_the_current_one() -> None:
    headers = sort_headers(
        "/p",
        {"sort": "name", "order": "asc", "region": "london"},
        [("name", "Organisation"), ("deadline", "Deadline")],
        sort="name",
        descending=False,
    )
    assert headers["name"].aria_sort == "ascending"
    assert headers["name"].href == "/p?sort=name&order=desc&region=london"
    assert headers["deadline"].aria_sort == "none"
    assert headers["deadline"].href == "/p?sort=deadline&order=asc&region=london"


def test_filter_options_carry_their_counts() -> None:
    items = counted_options([("london", "London")], "london", {"london": 1204}, "All regions")
    assert items == [
        {"value": "", "text": "All regions"},
        {"value": "london", "text": "London (1,204)", "selected": True},
    ]
