FLASK_APP=notes
