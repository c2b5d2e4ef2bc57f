FLASK_APP=tasks.py
