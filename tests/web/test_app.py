"""The app shell: health, security headers, errors as JSON and as pages, OpenAPI."""

from __future__ import annotations


def test_healthz_reports_database(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_pages_carry_security_headers(client) -> None:
    response = client.get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


def test_static_files_have_nosniff(client) -> None:
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"


def test_api_404_is_json_in_the_users_language(client) -> None:
    en = client.get("/api/v1/nothing-here", headers={"Accept-Language": "en"})
    assert en.status_code == 404
    assert en.json()["error"]["code"] == "not_found"
    assert en.json()["error"]["message"] == "We could not find what you were looking for."
    zh = client.get("/api/v1/nothing-here", headers={"Accept-Language": "zh-CN"})
    assert zh.json()["error"]["code"] == "not_found"
    assert zh.json()["error"]["message"] != en.json()["error"]["message"]


def test_page_404_is_a_friendly_page(client) -> None:
    response = client.get("/no/such/page", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "Page not found" in response.text


def test_openapi_lists_the_identity_api(client) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/auth/login" in spec["paths"]
    assert "/api/v1/me/sessions" in spec["paths"]
    assert all(p.startswith("/api/") for p in spec["paths"])


def test_docs_page_uses_local_assets(client) -> None:
    html = client.get("/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()


def test_a_server_warms_up_before_it_says_ready(db, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With OKPAY_WARM_UP (on outside tests) the search index is built and the triage model
    loaded before /readyz says 200, so the first search does not wait for either."""
    import time

    from starlette.testclient import TestClient

    from okpay.app import create_app
    from okpay.helpcenter import service, triage

    triage.reset()
    app = create_app(settings.model_copy(update={"warm_up": True}))
    with TestClient(app) as client:
        deadline = time.monotonic() + 120
        while (ready := client.get("/readyz")).status_code == 503:
            assert ready.json()["status"] == "starting"
            assert time.monotonic() < deadline, ready.json()
            time.sleep(0.05)
        assert ready.json() == {"status": "ok", "database": "ok"}

        def no_second_build(*args: object, **kwargs: object) -> None:
            raise AssertionError("built again after the warm-up")

        monkeypatch.setattr(service, "SearchIndex", no_second_build)
        monkeypatch.setattr(triage, "train", no_second_build)
        assert client.get("/api/v1/help/search", params={"q": "fee"}).status_code == 200
        triage.current_model()
