"""A notes API on Postgres: the test app of tests/accessories (DATABASE_URL from cockpit)."""

import os

import psycopg
from flask import Flask, jsonify, request

app = Flask(__name__)


def db():
    return psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=5)


@app.get("/up")
def up():
    with db() as conn:
        conn.execute("SELECT 1")
    return "ok"


@app.get("/notes")
def notes():
    with db() as conn:
        rows = conn.execute("SELECT text FROM notes ORDER BY id").fetchall()
    return jsonify(notes=[r[0] for r in rows], release=os.environ.get("COCKPIT_RELEASE"))


@app.post("/notes")
def add():
    with db() as conn:
        conn.execute("INSERT INTO notes (text) VALUES (%s)", (request.get_data(as_text=True),))
    return jsonify(ok=True), 201
