const express = require("express");

const app = express();
app.get("/health", (req, res) => res.json({ ok: true }));
app.get("/", (req, res) => res.send(`hello from express as uid ${process.getuid()}\n`));

const port = Number(process.env.PORT || 3000);
app.listen(port, "0.0.0.0", () => console.log(`listening on ${port}`));
