/**
 * Asks `/healthz` every few milliseconds for a while and prints the latencies
 * (ms) as one JSON array. It runs as a process of its own so that the load
 * generator's busy event loop does not add to what it measures.
 *
 *   node --import tsx bench/load/healthz-probe.ts <baseUrl> <durationMs> [intervalMs]
 */
import { request } from 'node:http';
import { Agent } from 'node:http';

const [baseUrl, durationArg, intervalArg] = process.argv.slice(2);
if (!baseUrl || !durationArg) throw new Error('usage: healthz-probe <baseUrl> <durationMs> [intervalMs]');
const duration = Number(durationArg);
const interval = Number(intervalArg ?? 20);
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const target = new URL('/healthz', baseUrl);

function probe(): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(target, { agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - start) : reject(new Error(`/healthz answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

const latencies: number[] = [];
const end = Date.now() + duration;
while (Date.now() < end) {
  latencies.push(await probe());
  await new Promise((r) => setTimeout(r, interval));
}
agent.destroy();
process.stdout.write(JSON.stringify(latencies));
