// npm run demo: boot pVMs on this machine and show what they do.
import { join } from 'node:path';
import { Host, builtinGuest, describeExit } from '../lib/index.js';

const us = (ns: bigint) => (Number(ns) / 1000).toFixed(0);

await using host = await Host.open();
console.log(`pvm demo: backend ${host.backend}`);

// 1. One pVM: boot it, stream its console, wait for it.
const greeter = await host.spawn(builtinGuest('greeter'), { memory: '32MiB', args: ['Ada', 'Grace'] });
console.log(`\n[1] spawned pVM ${greeter.id} (monitor pid ${greeter.pid}, kvm_pvm: ${greeter.kvmPvm})`);
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

console.log(`\nTry it yourself: npx pvm run ${join('build', 'guests', 'greeter.pvm')} you`);
