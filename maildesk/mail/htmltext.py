"""HTML -> readable plain text for bodies that come only as text/html.

Own extractor on the stdlib `HTMLParser` rather than html2text (which leaves markdown syntax)
or inscriptis (a dependency for ~70 lines): blocks become lines, links keep their URL,
blockquotes get `> ` so the quote stripper sees the history as quoted.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _TextExtractor(HTMLParser):
    """HTML -> plain text: blocks become lines, links keep their URL, blockquotes get `> `."""

    _BLOCK = frozenset(
        [
            *("p", "div", "br", "tr", "li", "ul", "ol", "table", "pre", "hr", "dd", "dt"),
            *("h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header", "footer"),
            "blockquote",
        ]
    )
    _SKIP = frozenset(("script", "style", "head", "title", "template"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip = 0
        self.quote = 0
        self.href: list[str | None] = []
        self.link_text: list[str] = []

    def _newline(self) -> None:
        line = re.sub(r"[ \t\u00a0]+", " ", "".join(self.current)).strip()
        self.current = []
        if line:
            self.lines.append("> " * self.quote + line)
        elif self.lines and self.lines[-1] != "":
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skip += 1
        elif tag in self._BLOCK:
            self._newline()
            if tag == "blockquote":
                self.quote += 1
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))
            self.link_text.append("")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.handle_data(alt)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self._BLOCK:
            self._newline()
            if tag == "blockquote":
                self.quote = max(0, self.quote - 1)
        elif tag == "a" and self.href:
            href, shown = self.href.pop(), self.link_text.pop().strip()
            if href and not href.startswith(("#", "javascript:")):
                target = href[7:] if href.lower().startswith("mailto:") else href
                if target not in shown:
                    self.current.append(f" ({target})" if shown else target)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        data = data.replace("\r", " ").replace("\n", " ")
        if self.link_text:
            self.link_text[-1] += data
        self.current.append(data)

    def text(self) -> str:
        self._newline()
        return "\n".join(self.lines).strip()


def html_to_text(html: str) -> str:
    """Readable text from HTML, no markup left (html2text would leave markdown syntax)."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:
        return re.sub(r"<[^>]*>", " ", html).strip()
    return extractor.text()
