"""``/docs`` works offline: Swagger UI's page names only this server's own URLs, and they serve the assets."""

from __future__ import annotations

import re


def test_docs_page_loads_its_assets_from_this_server(client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", page.text)
    urls = [u for pair in urls for u in pair if u]
    assert urls and not [u for u in urls if "://" in u or u.startswith("//")], f"external assets: {urls}"
    for url in urls:
        got = client.get(url)
        assert got.status_code == 200 and len(got.content) > 100, url
    assert "SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js").text
    assert client.get("/openapi.json").json()["info"]["title"] == "tandem cloud server"
