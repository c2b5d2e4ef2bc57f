"""A tiny Flask app: one real dependency (Flask) served by gunicorn."""

import os

from flask import Flask

app = Flask(__name__)


@app.get("/health")
def health():
    return {"ok": True}


@app.get("/")
def index():
    return f"hello from flask as uid {os.getuid()}\n"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", "8000")))
