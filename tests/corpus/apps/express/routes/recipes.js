const express = require('express');

const router = express.Router();

const recipes = [
  { id: 1, name: 'Pancakes', minutes: 20 },
  { id: 2, name: 'Tomato soup', minutes: 35 },
];

router.get('/', (req, res) => {
  res.json(recipes);
});

router.get('/:id', (req, res) => {
  const recipe = recipes.find((r) => r.id === Number(req.params.id));
  if (!recipe) return res.status(404).json({ error: 'Recipe not found' });
  res.json(recipe);
});

router.post('/', (req, res) => {
  const { name, minutes } = req.body;
  if (!name) return res.status(400).json({ error: 'name is required' });
  const recipe = { id: recipes.length + 1, name, minutes: Number(minutes) || 0 };
  recipes.push(recipe);
  res.status(201).json(recipe);
});

module.exports = router;
