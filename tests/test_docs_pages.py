"""/docs works without internet: every script and stylesheet it loads is served by the app."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

# What each asset must be, and a floor well under the real sizes (the Swagger UI bundle is
# over a megabyte): an empty or error page would be far smaller.
EXPECTED = {
    "script": ("javascript", 10_000),
    "stylesheet": ("text/css", 10_000),
}


class _Assets(HTMLParser):
    """The URLs of <script src> and <link rel=stylesheet href> in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.found.append(("script", values["src"] or ""))
        if tag == "link" and values.get("rel") == "stylesheet" and values.get("href"):
            self.found.append(("stylesheet", values["href"] or ""))


def assets_of(html: str) -> list[tuple[str, str]]:
    parser = _Assets()
    parser.feed(html)
    return parser.found


def test_docs_page_loads_every_asset_from_the_app_itself(client):
    page = client.get("/docs")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assets = assets_of(html)
    assert {kind for kind, _ in assets} == {"script", "stylesheet"}
    assert "http://" not in html and "https://" not in html  # nothing external at all
    for kind, url in assets:
        absolute = urljoin("http://localhost/docs", url)
        assert urlsplit(absolute).netloc == "localhost", url
        asset = client.get(urlsplit(absolute).path)
        content_type, floor = EXPECTED[kind]
        assert asset.status_code == 200, url
        assert content_type in asset.content_type, (url, asset.content_type)
        assert len(asset.get_data()) > floor, url
    assert "/v1/openapi.json" in html  # the page renders our spec


def test_the_bundle_is_the_real_swagger_ui(client):
    bundle = client.get("/docs/assets/swagger-ui-bundle.js").get_data(as_text=True)
    assert "SwaggerUIBundle" in bundle


def test_redoc_redirects_to_the_swagger_ui(client):
    response = client.get("/redoc")
    assert response.status_code == 301
    assert urlsplit(response.headers["Location"]).path == "/docs"


def test_assets_outside_the_bundle_are_not_served(client):
    assert client.get("/docs/assets/../../setup.cfg").status_code == 404
    assert client.get("/docs/assets/missing.js").status_code == 404
