const express = require('express');
const cors = require('cors');
const app = express();
const PORT = 3000;
const OPENAI_API_KEY = "sk-proj-Xq7Tz9LmN2vB4kR8wP1sD6fG3hJ5yU0eA9cV2bN7mQ4xZ1tK8";

app.use(cors());
app.use(express.json());

const mongoose = require('mongoose');
mongoose.connect(process.env.MONGODB_URI);

app.get('/', (req, res) => {
  res.send('API is running!');
});

app.post('/api/chat', async (req, res) => {
  const response = await fetch('https://api.openai.com/v1/chat/completions', {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Authorization: `Bearer ${OPENAI_API_KEY}`,
    },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: req.body.messages }),
  });
  res.json(await response.json());
});

app.listen(PORT, () => {
  console.log(`Server running on http://localhost:${PORT}`);
});
