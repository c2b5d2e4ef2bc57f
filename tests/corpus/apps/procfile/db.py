import os
import sqlite3

DATABASE_PATH = os.environ.get("DATABASE_PATH", "data/guestbook.db")


def connect():
    conn = sqlite3.connect(DATABASE_PATH)
    conn.row_factory = sqlite3.Row
    return conn
