"""The release command: create the schema once (a redeploy keeps the rows)."""

import os

import psycopg

with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=10) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, text text NOT NULL)")
    conn.execute("CREATE TABLE IF NOT EXISTS tags (id serial PRIMARY KEY, name text)")
print("schema ready")
