import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for

from app import app, db
from app.models import Task


@app.route("/")
@app.route("/index")
def index():
    query = sa.select(Task).order_by(Task.done, Task.created.desc())
    tasks = db.paginate(query, per_page=app.config["TASKS_PER_PAGE"], error_out=False)
    return render_template("index.html", title="Tasks", tasks=tasks.items)


@app.route("/tasks", methods=["POST"])
def add_task():
    title = request.form.get("title", "").strip()
    if not title:
        flash("A task needs a title.")
        return redirect(url_for("index"))
    db.session.add(Task(title=title, notes=request.form.get("notes")))
    db.session.commit()
    flash("Task added.")
    return redirect(url_for("index"))


@app.route("/tasks/<int:task_id>/done", methods=["POST"])
def finish_task(task_id):
    task = db.get_or_404(Task, task_id)
    task.done = True
    db.session.commit()
    return redirect(url_for("index"))
