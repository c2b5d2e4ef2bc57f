import pytest

from notes import create_app, db


class TestConfig:
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    TESTING = True


@pytest.fixture
def client():
    app = create_app(TestConfig)
    with app.app_context():
        db.create_all()
        yield app.test_client()
        db.drop_all()


def test_post_then_list(client):
    response = client.post("/api/notes", data={"text": "buy milk"})
    assert response.status_code == 201
    note_id = response.get_json()["id"]
    listing = client.get("/api/notes").get_json()
    assert listing == {"count": 1, "notes": [{"id": note_id, "text": "buy milk"}]}


def test_empty_text_is_refused(client):
    assert client.post("/api/notes", data={"text": " "}).status_code == 400


def test_index(client):
    client.post("/api/notes", data={"text": "call the plumber"})
    page = client.get("/").get_data(as_text=True)
    assert "Notes" in page and "call the plumber" in page
