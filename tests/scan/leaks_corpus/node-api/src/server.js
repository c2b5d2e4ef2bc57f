const express = require("express");
const jwt = require("jsonwebtoken");
const OpenAI = require("openai");

const app = express();
const openai = new OpenAI({ apiKey: "sk-proj-IS8HGNWkz2YS5ofA75UyiCDmO46ayJKP4GY08vDuPngU30ZP" });
const port = process.env.PORT || 3000;

app.post("/login", (req, res) => {
  const token = jwt.sign({ id: req.body.id, role: "user" }, "vtEga4wO5Ndor89QtvnQzKlIey", { expiresIn: "1h" });
  res.json({ token });
});

app.get("/me", (req, res) => {
  const claims = jwt.verify(req.headers.authorization, process.env.JWT_SECRET);
  res.json(claims);
});

const headerName = "x-api-key";
const tokenHeader = "authorization";
app.listen(port);
