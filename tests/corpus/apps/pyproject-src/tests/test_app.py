from starlette.testclient import TestClient

from linkbox.app import app


def test_homepage_lists_links():
    client = TestClient(app)
    response = client.get("/")
    assert response.status_code == 200
    assert "Starlette docs" in response.text


def test_add_link_then_api_shows_it():
    client = TestClient(app)
    response = client.post("/links", data={"url": "https://example.org/", "title": "Example"})
    assert response.status_code == 200  # followed the 303 back to the homepage
    assert {"url": "https://example.org/", "title": "Example"} in client.get("/api/links").json()
