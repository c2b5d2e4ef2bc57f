from flask import Blueprint, jsonify, render_template, request

from . import db
from .models import Note

bp = Blueprint("notes", __name__)


@bp.get("/")
def index():
    notes = db.session.scalars(db.select(Note).order_by(Note.created.desc()).limit(50)).all()
    return render_template("index.html", notes=notes)


@bp.post("/api/notes")
def create_note():
    text = (request.form.get("text") or "").strip()
    if not text:
        return jsonify(error="text is required"), 400
    note = Note(text=text)
    db.session.add(note)
    db.session.commit()
    return jsonify(id=note.id), 201


@bp.get("/api/notes")
def list_notes():
    notes = db.session.scalars(db.select(Note).order_by(Note.id)).all()
    return jsonify(count=len(notes), notes=[n.to_dict() for n in notes])
