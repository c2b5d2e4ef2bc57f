from flask import Flask, request, jsonify
import sqlite3

app = Flask(__name__)
app.config['SECRET_KEY'] = 'a8f5f167f44f4964e6c998dee827110c'

DATABASE = 'todos.db'


def get_db():
    conn = sqlite3.connect(DATABASE)
    conn.row_factory = sqlite3.Row
    return conn


@app.route('/')
def index():
    return jsonify({"message": "Welcome to the Todo API!"})


@app.route('/api/todos', methods=['GET', 'POST'])
def todos():
    db = get_db()
    if request.method == 'POST':
        db.execute('INSERT INTO todos (title) VALUES (?)', (request.json['title'],))
        db.commit()
    rows = db.execute('SELECT * FROM todos').fetchall()
    return jsonify([dict(r) for r in rows])


if __name__ == '__main__':
    app.run(debug=True)
