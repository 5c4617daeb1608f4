// npm run demo: boot pVMs on this machine and show what they do.
import { join } from 'node:path';
import { Host, builtinGuest, describeExit } from '../lib/index.js';

const us = (ns: bigint) => (Number(ns) / 1000).toFixed(0);

await using host = await Host.open();
console.log(`pvm demo: backend ${host.backend}`);

// 1. One pVM: boot it, stream its console, wait for it.
const greeter = await host.spawn(builtinGuest('greeter'), { memory: '32MiB', args: ['Ada', 'Grace'] });
console.log(`\n[1] spawned pVM ${greeter.id} (monitor pid ${greeter.pid}, backend: ${JSON.stringify(greeter.backendInfo)})`);
greeter.console.pipe(process.stdout);
const status = await greeter.exited;
const t = greeter.timings;
console.log(`[1] pVM ${greeter.id} ${describeExit(status)}`);
console.log(`[1] spawn -> monitor ${us(t.monitorStartNs - t.spawnNs)} us, -> VM ready ${us(t.vmReadyNs - t.spawnNs)} us, -> first exit ${us(t.firstExitNs! - t.spawnNs)} us`);

// 2. Several at once: each is its own VM with its own id.
const many = await Promise.all(
  Array.from({ length: 6 }, (_, i) => host.spawn(builtinGuest('greeter'), { memory: '16MiB', args: [`guest-${i}`] })),
);
const outputs = await Promise.all(
  many.map(async (p) => {
    let text = '';
    for await (const chunk of p.console) text += chunk; // the stream ends when the pVM does
    return text.split('\n').find((l) => l.includes('hello'));
  }),
);
console.log(`\n[2] ${many.length} pVMs ran side by side:`);
outputs.forEach((line, i) => console.log(`    pVM ${many[i]!.id}: ${line}`));

// 3. A guest that crashes ends only itself, with a readable reason.
const crasher = await host.spawn(builtinGuest('fault'), { memory: '16MiB', args: ['null'], console: 'ignore' });
console.log(`\n[3] pVM ${crasher.id}: ${describeExit(await crasher.exited)}`);

// 4. A long-running pVM, killed from the host.
const spinner = await host.spawn(builtinGuest('loop'), { memory: '16MiB', args: ['1000000000000'], console: 'ignore' });
setTimeout(() => spinner.kill(), 50);
console.log(`[4] pVM ${spinner.id}: ${describeExit(await spinner.exited)}`);

// 5. A guest forks itself: fork(2) semantics, a channel between parent and child.
const forker = await host.spawn(builtinGuest('fork_basic'), { memory: '32MiB' });
forker.on('fork', ({ child, parentPausedUs, childReadyUs }) => {
  console.log(`\n[5] pVM ${forker.id} forked pVM ${child.id}: parent paused ${parentPausedUs.toFixed(0)} us, child ready after ${childReadyUs.toFixed(0)} us`);
  child.console.on('data', (d: Buffer) => process.stdout.write(`    child  | ${d}`));
});
forker.console.on('data', (d: Buffer) => process.stdout.write(`    parent | ${d}`));
await forker.exited;

// 6. The host forks a warmed-up pVM and talks to the copy over a channel.
const server = await host.spawn(builtinGuest('idle'), { memory: '256MiB', args: ['128'] });
await new Promise<void>((resolve) => server.console.on('data', (d: Buffer) => String(d).includes('ready') && resolve()));
const { child, channel, parentPausedUs, childReadyUs } = await server.fork();
console.log(`\n[6] forked pVM ${server.id} (128 MiB touched) into pVM ${child.id}: parent paused ${parentPausedUs.toFixed(0)} us, child ready after ${childReadyUs.toFixed(0)} us`);
const sent = process.hrtime.bigint();
await channel.send('ping from the host');
const reply = await channel.recv();
console.log(`[6] pVM ${child.id} echoed ${JSON.stringify(String(reply))} in ${us(process.hrtime.bigint() - sent)} us`);
channel.close();
console.log(`[6] pVM ${child.id} ${describeExit(await child.exited)}; pVM ${server.id} still runs: ${server.running}`);
server.kill();
await server.exited;

console.log(`\nTry it yourself: npx pvm run ${join('build', 'guests', 'greeter.pvm')} you`);
