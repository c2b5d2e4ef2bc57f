import os

from flask import Flask, redirect, render_template, request, url_for

from db import connect

app = Flask(__name__)
app.secret_key = os.environ["SECRET_KEY"]


@app.route("/")
def index():
    with connect() as conn:
        entries = conn.execute(
            "SELECT name, message, created FROM entries ORDER BY id DESC LIMIT 100"
        ).fetchall()
    return render_template("index.html", entries=entries)


@app.route("/sign", methods=["POST"])
def sign():
    name = request.form.get("name", "").strip() or "anonymous"
    message = request.form.get("message", "").strip()
    if message:
        with connect() as conn:
            cur = conn.execute(
                "INSERT INTO entries (name, message) VALUES (?, ?)", (name, message)
            )
            conn.execute("INSERT INTO outbox (entry_id) VALUES (?)", (cur.lastrowid,))
    return redirect(url_for("index"))
