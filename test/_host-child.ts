// Run by lifetime.test.ts in a separate Node process: spawns long-running pVMs, prints
// their monitor pids as one JSON line, then waits to be killed.
import { Host, builtinGuest } from '../lib/index.js';

const host = await Host.open();
const count = Number(process.argv[2] ?? 2);
const pvms = [];
for (let i = 0; i < count; i++) {
  pvms.push(await host.spawn(builtinGuest('loop'), { args: ['100000000000'], console: 'ignore', memory: '16MiB' }));
}
console.log(JSON.stringify(pvms.map((p) => p.pid)));
setInterval(() => {}, 1000);
