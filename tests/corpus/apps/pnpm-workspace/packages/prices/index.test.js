const { test } = require('node:test');
const assert = require('node:assert');
const { formatPrice, withVat } = require('./index');

test('formats cents as euros', () => {
  assert.strictEqual(formatPrice(1999), '€19.99');
});

test('adds VAT', () => {
  assert.strictEqual(withVat(1000), 1210);
});
