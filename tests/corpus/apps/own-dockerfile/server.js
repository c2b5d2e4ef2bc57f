'use strict';

const Fastify = require('fastify');

function build(opts = {}) {
  const app = Fastify(opts);

  const incidents = [
    { id: 1, title: 'Checkout latency above SLO', status: 'resolved' },
    { id: 2, title: 'Nightly export late', status: 'monitoring' },
  ];

  app.get('/healthz', async () => ({ ok: true }));

  app.get('/', async (request, reply) => {
    const rows = incidents
      .map((i) => `<tr><td>#${i.id}</td><td>${i.title}</td><td>${i.status}</td></tr>`)
      .join('');
    reply.type('text/html').send(
      `<!doctype html><title>Incident notes</title><h1>Incident notes</h1><table>${rows}</table>`
    );
  });

  app.get('/api/incidents', async () => incidents);

  app.post('/api/incidents', async (request, reply) => {
    const { title } = request.body || {};
    if (!title) return reply.code(400).send({ error: 'title is required' });
    const incident = { id: incidents.length + 1, title, status: 'open' };
    incidents.push(incident);
    return reply.code(201).send(incident);
  });

  return app;
}

if (require.main === module) {
  const app = build({ logger: true });
  const port = Number(process.env.PORT) || 3000;
  app.listen({ port, host: '0.0.0.0' }).catch((err) => {
    app.log.error(err);
    process.exit(1);
  });
}

module.exports = build;
