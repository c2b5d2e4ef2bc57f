"""A notes API on Postgres whose schema Alembic migrates (the lab app of tests/schema)."""

import os

import psycopg
from flask import Flask, jsonify, request

app = Flask(__name__)
RELEASE = os.environ.get("COCKPIT_RELEASE", "")


def db():
    return psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=5)


@app.after_request
def release_header(resp):
    resp.headers["X-Release"] = RELEASE
    return resp


@app.get("/up")
def up():
    with db() as conn:
        conn.execute("SELECT 1")
    return "ok"


@app.get("/")
def index():
    with db() as conn:
        count = conn.execute("SELECT count(*) FROM notes").fetchone()[0]
    return f"{count} notes\n"


@app.get("/notes")
def notes():
    with db() as conn:
        rows = conn.execute("SELECT text FROM notes ORDER BY id").fetchall()
    return jsonify(notes=[r[0] for r in rows], release=RELEASE)


@app.post("/notes")
def add():
    with db() as conn:
        conn.execute("INSERT INTO notes (text) VALUES (%s)", (request.get_data(as_text=True),))
    return jsonify(ok=True), 201
