const express = require('express');

const app = express();
const port = process.env.PORT || 3000;

app.get('/healthz', (req, res) => res.send('ok'));
app.get('/', (req, res) => res.json({ hello: process.env.GREETING ?? 'world' }));

app.listen(port, () => console.log(`listening on ${port}`));
