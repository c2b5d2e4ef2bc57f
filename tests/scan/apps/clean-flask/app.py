import os

from flask import Flask, jsonify

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]


@app.get("/health")
def health():
    return {"status": "ok"}


@app.get("/")
def index():
    return jsonify(message="hello")


if __name__ == "__main__":
    app.run(debug=True)
