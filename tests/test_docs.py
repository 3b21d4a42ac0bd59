"""The README stays a front page, and every link in it and in docs/ resolves."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(text):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for line in text.splitlines():
        m = re.match(r"#{1,6} (.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            out.add(slug)
    return out


def test_readme_is_a_front_page():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.encode()) <= 20_000
    assert max(len(line) for line in text.splitlines()) <= 400
    # exactly the two set-up-and-go commands, and a page for each topic
    assert re.findall(r"^make (\w+)", text, flags=re.M) == ["demo", "test"]
    for page in ("vcycle", "amg", "learned-factors", "dcdm", "device", "petsc", "fem", "benchmarks",
                 "development"):
        assert f"(docs/{page}.md)" in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_resolve(page):
    text = page.read_text(encoding="utf-8")
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists(), f"{page.name}: link to missing {target}"
        if anchor:
            assert anchor in _anchors(dest.read_text(encoding="utf-8")), \
                f"{page.name}: no heading for #{anchor} in {dest.name}"
