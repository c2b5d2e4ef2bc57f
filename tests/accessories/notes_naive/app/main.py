from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import select, text
from .db import SessionLocal
from .models import Note

app = FastAPI(title="notes-api")


class NoteIn(BaseModel):
    title: str
    body: str = ""


def _out(n: Note) -> dict:
    return {"id": n.id, "title": n.title, "body": n.body, "created_at": n.created_at.isoformat() if n.created_at else None}


@app.get("/healthz")
def healthz():
    with SessionLocal() as s:
        s.execute(text("select 1"))
    return {"ok": True}


@app.get("/notes")
def list_notes():
    with SessionLocal() as s:
        return [_out(n) for n in s.scalars(select(Note).order_by(Note.id))]


@app.post("/notes", status_code=201)
def create_note(note: NoteIn):
    with SessionLocal() as s:
        n = Note(title=note.title, body=note.body)
        s.add(n)
        s.commit()
        s.refresh(n)
        return _out(n)


@app.delete("/notes/{note_id}", status_code=204)
def delete_note(note_id: int):
    with SessionLocal() as s:
        n = s.get(Note, note_id)
        if not n:
            raise HTTPException(404, "not found")
        s.delete(n)
        s.commit()
