"""What a team typed shows as typed on the team pages: markdown and directives are escaped."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from dashboard.teams import plain


@pytest.mark.parametrize(
    "text",
    [
        "PROD_ML_FALL_25|ИВАНОВ_ПЕТРОВ",
        "**bold** _it_ `code`",
        "[click](https://evil.example)",
        "![img](https://evil.example/x.png)",
        "# heading",
        "<script>alert(1)</script>",
        ":red[alarm] :material/warning:",
        "$x^2$",
        "a\\*b",
    ],
)
def test_plain_text_renders_as_itself(text: str) -> None:
    html = MarkdownIt("commonmark").render(plain(text)).strip()
    assert html.startswith("<p>") and html.endswith("</p>")
    inner = html[3:-4]
    for tag in ("<strong", "<em", "<a ", "<img", "<code", "<h1", "<script"):
        assert tag not in inner
    unescaped = inner.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&quot;", '"')
    assert unescaped == text
