// Boots a VM host under QEMU (TCG: this works where /dev/kvm is not hardware) with this
// machine's root shared read-only over 9p (tag hostroot), streams its serial console to
// stdout as it comes, and bounds the whole run with `timeout`.
import { spawn } from 'node:child_process';

/**
 * Boots and resolves once QEMU has ended: { output, status, timedOut, seconds }.
 * output: the serial console, \r removed. status: QEMU's exit code (124: killed at the
 * time limit). Options: kernel, initrd, append (command line), timeoutMs, cpu ('max'
 * emulates AMD-V), smp, memoryMiB, args (more QEMU arguments), prefix (put before each
 * console line shown).
 */
export function boot({ kernel, initrd, append, timeoutMs, cpu = 'max', smp = 2, memoryMiB = 3072, args = [], prefix = '' }) {
  const qemu = [
    'qemu-system-x86_64',
    '-machine', 'q35',
    // One thread for every vCPU: the default multi-threaded TCG once wedged a guest for good.
    '-accel', 'tcg,thread=single',
    '-cpu', cpu,
    '-smp', String(smp),
    '-m', String(memoryMiB),
    '-kernel', kernel,
    '-initrd', initrd,
    '-append', append,
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-chardev', 'stdio,id=console,signal=off',
    '-serial', 'chardev:console',
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    ...args,
  ];
  const seconds = Math.ceil(timeoutMs / 1000);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('timeout', ['--kill-after=10', String(seconds), ...qemu], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    let partial = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      const text = chunk.replace(/\r/g, '');
      output += text;
      const lines = (partial + text).split('\n');
      partial = lines.pop();
      for (const line of lines) process.stdout.write(`${prefix}${line}\n`);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (partial) process.stdout.write(`${prefix}${partial}\n`);
      const status = code ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
      resolve({ output, status, timedOut: status === 124 || status === 137, seconds: (Date.now() - started) / 1000 });
    });
  });
}
