// Unique clones: every fork child gets fresh entropy and a new generation in its boot-info
// page, and the runtime's rand() reseeds from them; uniqueClones: false turns it off.
import * as assert from 'uvu/assert';
import type { Pvm, SpawnOptions } from '../lib/index.js';
import { eventually, guest, outputOf, vmSuite, withHost } from './_helpers.js';

const { suite, vm } = vmSuite('unique clones');
const ctx = withHost(suite);

interface Draws {
  parent: { generation: number; rand: number; first: number };
  children: Array<{ generation: number; rand: number }>;
}

/** Runs the clones guest; its output and its two children's, one text. */
async function run(options: SpawnOptions = {}): Promise<string> {
  const pvm: Pvm = await ctx.host.spawn(guest('clones'), { memory: '16MiB', ...options });
  const children: Array<ReturnType<typeof outputOf>> = [];
  pvm.on('fork', ({ child }) => children.push(outputOf(child)));
  const { text, status } = await outputOf(pvm);
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  assert.ok(await eventually(() => children.length === 2), 'two fork events');
  const out = await Promise.all(children);
  for (const c of out) assert.equal(c.status, { kind: 'exit', code: 0 }, c.text);
  return [text, ...out.map((c) => c.text)].join('');
}

function parse(text: string): Draws {
  const children = [...text.matchAll(/^child: generation=(\d+) rand=(-?\d+)$/gm)].map((m) => ({
    generation: Number(m[1]),
    rand: Number(m[2]),
  }));
  const p = /^parent: generation=(\d+) rand=(-?\d+)$/m.exec(text);
  const f = /^parent: first=(-?\d+)$/m.exec(text);
  assert.ok(p && f && children.length === 2, text);
  return { parent: { generation: Number(p![1]), rand: Number(p![2]), first: Number(f![1]) }, children };
}

vm('two children of one parent: generation + 1 each, and rand() draws differ', async () => {
  const text = await run();
  const d = parse(text);
  assert.is(d.parent.generation, 0, 'a spawned pVM is generation 0');
  for (const c of d.children) assert.is(c.generation, 1, text);
  const draws = [d.parent.rand, ...d.children.map((c) => c.rand)];
  assert.is(new Set(draws).size, 3, `the parent and its two clones drew ${draws.join(', ')}`);
});

vm('two spawns of one image draw different numbers (entropy at boot)', async () => {
  const a = parse(await run());
  const b = parse(await run());
  assert.is.not(a.parent.first, b.parent.first);
});

vm('uniqueClones: false: the children keep the generation and draw what the parent draws', async () => {
  const text = await run({ uniqueClones: false });
  const d = parse(text);
  for (const c of d.children) {
    assert.is(c.generation, 0, text);
    assert.is(c.rand, d.parent.rand, 'a clone draws the same next number as its parent');
  }
});

suite.run();
