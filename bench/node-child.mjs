// The child of the fork.nodeChildProcess benchmark (bench/fork.ts): tells its parent it
// runs, at once, then waits on the IPC channel until the parent kills it.
process.send('ready');
