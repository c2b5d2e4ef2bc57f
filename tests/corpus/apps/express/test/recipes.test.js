const { test, before, after } = require('node:test');
const assert = require('node:assert');

const app = require('../app');

let server;
let base;

before(async () => {
  server = app.listen(0);
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => server.close());

test('lists recipes', async () => {
  const res = await fetch(`${base}/api/recipes`);
  assert.strictEqual(res.status, 200);
  const body = await res.json();
  assert.ok(body.some((r) => r.name === 'Pancakes'));
});

test('404 for a missing recipe', async () => {
  const res = await fetch(`${base}/api/recipes/999`);
  assert.strictEqual(res.status, 404);
});
