// CPU per webhook POST for the HTTP clients a webhook sender could use, against the engine
// benchmark's keep-alive sink, 1,000 requests in flight (docs/performance.md, "Delivery loop").
// Two rounds: the first warms up the JIT; read the second. `N=20000 node bench/support/http-clients.ts`
import { fork } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { Agent, Pool, request } from 'undici';

const N = Number(process.env.N ?? 30000);
const sink = fork(path.join(import.meta.dirname, 'sink.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const port = await new Promise<number>((r) => sink.once('message', (m: { port: number }) => r(m.port)));
const url = `http://127.0.0.1:${port}/hook`;
const body = (i: number) => JSON.stringify({ deliveryId: String(i), notificationId: `n${i}`, appId: 'default', userId: 'u1', attempt: 1, title: `n${i}`, dueAt: new Date().toISOString() });
const headers = (i: number) => ({ 'content-type': 'application/json', 'user-agent': 'herald-webhook/1', 'herald-delivery-id': String(i), 'herald-notification-id': `n${i}`, 'herald-timestamp': '1' });

async function run(name: string, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => { while (next < N) await one(next++); };
  const c0 = process.cpuUsage(); const t0 = performance.now();
  await Promise.all(Array.from({ length: 1000 }, worker));
  const c = process.cpuUsage(c0); const t = performance.now() - t0;
  console.log(`${name.padEnd(40)} ${((c.user + c.system) / N).toFixed(1)} µs CPU/request  ${(N / t * 1000).toFixed(0)} req/s`);
}

for (let round = 0; round < 2; round++) {
  const agent = new Agent({ connections: 128, keepAliveTimeout: 30_000, pipelining: 1 });
  await run('undici request + Agent (herald today)', async (i) => { const r = await request(url, { method: 'POST', body: body(i), headers: headers(i), dispatcher: agent }); await r.body.dump(); });
  await agent.close();
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 128, keepAliveTimeout: 30_000, pipelining: 1 });
  await run('undici Pool.request', async (i) => { const r = await pool.request({ path: '/hook', method: 'POST', body: body(i), headers: headers(i) }); await r.body.dump(); });
  await pool.close();
  const pool16 = new Pool(`http://127.0.0.1:${port}`, { connections: 16, keepAliveTimeout: 30_000, pipelining: 1 });
  await run('undici Pool.request 16 connections', async (i) => { const r = await pool16.request({ path: '/hook', method: 'POST', body: body(i), headers: headers(i) }); await r.body.dump(); });
  await pool16.close();
  const pipe = new Pool(`http://127.0.0.1:${port}`, { connections: 16, keepAliveTimeout: 30_000, pipelining: 16 });
  await run('undici Pool 16 conns, pipelining 16', async (i) => { const r = await pipe.request({ path: '/hook', method: 'POST', body: body(i), headers: headers(i) }); await r.body.dump(); });
  await pipe.close();
  const ha = new http.Agent({ keepAlive: true, maxSockets: 128 });
  await run('node:http Agent keepAlive 128', (i) => new Promise<void>((resolve) => {
    const req = http.request(url, { method: 'POST', agent: ha, headers: headers(i) }, (res) => { res.resume(); res.on('end', resolve); });
    req.on('error', () => resolve());
    req.end(body(i));
  }));
  ha.destroy();
}
sink.send({ type: 'exit' });
