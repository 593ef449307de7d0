"""The documentation pages load nothing from another origin, and what they load is served."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from litestar.testing import TestClient


class _Refs(HTMLParser):
    """Every ``src`` / ``href`` of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in {"src", "href"} and v]


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
def test_pages_reference_only_same_origin_urls_that_answer(client: TestClient[Any], page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    refs = _Refs()
    refs.feed(html)
    assert refs.urls, html[:500]
    assert not re.search(r"https?://", html.split("<body>")[0]), "an absolute URL in <head>"
    for url in refs.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from another origin"
        asset = client.get(urljoin(page, url))
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
    assert any(u.endswith("swagger-ui-bundle.js") for u in refs.urls)


def test_the_cdn_only_pages_are_not_served(client: TestClient[Any]) -> None:
    for page in ("/schema/redoc", "/schema/rapidoc", "/schema/elements"):
        assert client.get(page).status_code == 404, page
    assert client.get("/schema/openapi.json").json()["openapi"].startswith("3.1")
    assert client.get("/schema/assets/../../app.py").status_code in {400, 404}
