// Prints the TypeScript declarations jco generates for the connector's WIT,
// all files concatenated in name order, each under a `// ==== name` header,
// so a snapshot (connector.d.ts.snapshot) shows any change to the JS surface.
// Usage: node types.mjs [WIT_DIR]   (default: the repository's wit/)
//        node types.mjs --check     (exit 1 when it differs from the snapshot)

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { types } from '@bytecodealliance/jco';
import { _setPreopens } from '@bytecodealliance/preview2-shim/filesystem';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const check = process.argv.includes('--check');
const witDir = resolve(process.argv.slice(2).find((arg) => arg !== '--check') ?? here('../../wit'));

// jco's bindgen is itself a component on the shim, whose filesystem is
// deny-by-default since 0.26: it must be handed the WIT directory (and only it).
_setPreopens({ [witDir]: witDir });
const files = await types(witDir, { worldName: 'connector', instantiation: 'async', outDir: '' });
const text = Object.keys(files)
  .sort()
  .map((name) => `// ==== ${name}\n${new TextDecoder().decode(files[name]).trimEnd()}\n`)
  .join('\n');

if (check) {
  const snapshot = await readFile(here('connector.d.ts.snapshot'), 'utf8');
  if (snapshot !== text) {
    console.error('jco types output differs from tests/node/connector.d.ts.snapshot; regenerate: node tests/node/types.mjs > tests/node/connector.d.ts.snapshot');
    process.exit(1);
  }
} else {
  process.stdout.write(text);
}
