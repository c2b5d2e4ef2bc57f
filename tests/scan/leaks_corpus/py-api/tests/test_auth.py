import jwt

from app.auth import check


def test_check(monkeypatch):
    monkeypatch.setenv("JWT_SECRET", "ZWqr6hVVXk07zi5v4ISxXBWlznUleZ")
    token = jwt.encode({"sub": 1}, "ZWqr6hVVXk07zi5v4ISxXBWlznUleZ", algorithm="HS256")
    assert check(token)["sub"] == 1
