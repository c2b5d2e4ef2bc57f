'use strict';

const { test } = require('node:test');
const assert = require('node:assert');
const build = require('../server');

test('home page lists incidents', async () => {
  const app = build();
  const res = await app.inject({ method: 'GET', url: '/' });
  assert.strictEqual(res.statusCode, 200);
  assert.match(res.body, /Incident notes/);
});

test('healthz answers ok', async () => {
  const app = build();
  const res = await app.inject({ method: 'GET', url: '/healthz' });
  assert.deepStrictEqual(res.json(), { ok: true });
});
