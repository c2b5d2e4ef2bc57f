const express = require('express');
const { formatPrice, withVat } = require('@shop/prices');

const products = [
  { sku: 'MUG-01', name: 'Enamel mug', cents: 1400 },
  { sku: 'TEE-02', name: 'Logo t-shirt', cents: 2200 },
  { sku: 'CAP-03', name: 'Baseball cap', cents: 1800 },
];

const app = express();

app.get('/', (req, res) => {
  const rows = products
    .map((p) => `<li>${p.name}: ${formatPrice(withVat(p.cents))}</li>`)
    .join('\n');
  res.send(`<!doctype html><title>Shop</title><h1>Shop catalogue</h1><ul>${rows}</ul>`);
});

app.get('/api/products', (req, res) => {
  res.json(products.map((p) => ({ ...p, price: formatPrice(withVat(p.cents)) })));
});

const port = process.env.PORT || 4000;
app.listen(port, () => console.log(`shop server on :${port}`));
