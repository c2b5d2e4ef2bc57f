"""Create or upgrade the guestbook schema. Safe to run on every release."""
import os

from db import DATABASE_PATH, connect

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS entries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        message TEXT NOT NULL,
        created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
    )""",
    """CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        entry_id INTEGER NOT NULL REFERENCES entries (id),
        sent_at TEXT
    )""",
]


def main():
    os.makedirs(os.path.dirname(DATABASE_PATH) or ".", exist_ok=True)
    with connect() as conn:
        for statement in SCHEMA:
            conn.execute(statement)
    print(f"schema ready in {DATABASE_PATH}")


if __name__ == "__main__":
    main()
