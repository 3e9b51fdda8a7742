// Transpiles the component once, ahead of SentinelHost.start: the host itself
// never transpiles. The same output comes from the command line:
//   npx jco transpile sentinel_connector.wasm -o DIR --instantiation async
// (instantiation mode: the host supplies every import at run time, so the
// allow-list and the empty environment need no path baked into the output).

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * @param {string} wasmPath the component (.wasm)
 * @param {string} outDir where to write the JS and core modules
 * @returns {Promise<string>} outDir, to pass as `component` to SentinelHost.start
 */
export async function transpile(wasmPath, outDir) {
  // Loaded on demand: jco is large and only this helper needs it.
  const { transpile: jcoTranspile } = await import('@bytecodealliance/jco');
  const { files } = await jcoTranspile(await readFile(wasmPath), {
    name: 'sentinel_connector',
    instantiation: 'async',
    quiet: true,
  });
  for (const [file, bytes] of Object.entries(files)) {
    const path = join(outDir, file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bytes);
  }
  return outDir;
}
