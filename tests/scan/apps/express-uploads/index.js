const express = require('express');
const multer = require('multer');
const Database = require('better-sqlite3');

const app = express();
const upload = multer({ dest: 'uploads/' });
const db = new Database('photos.db');

db.exec('CREATE TABLE IF NOT EXISTS photos (id INTEGER PRIMARY KEY, path TEXT)');

app.use('/uploads', express.static('uploads'));

app.post('/photos', upload.single('photo'), (req, res) => {
  db.prepare('INSERT INTO photos (path) VALUES (?)').run(req.file.path);
  res.json({ ok: true, path: req.file.path });
});

app.get('/photos', (req, res) => {
  res.json(db.prepare('SELECT * FROM photos').all());
});

app.listen(3000, 'localhost', () => {
  console.log('Listening on http://localhost:3000');
});
