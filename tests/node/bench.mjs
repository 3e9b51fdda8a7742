// Cost of the Node host, one JSON line (the benchmark table's "node" row).
// Usage: node bench.mjs WASM_PATH EMULATOR_URL   (emulator: --incidents 1000)
//   transpile_ms      jco transpile of the .wasm into a temp dir
//   import_ms         import of the transpiled JS module (parse, no instance)
//   load_ms           transpile_ms + import_ms
//   instantiate_ms    SentinelHost.start: a worker, the shim, compiling the
//                     core modules and instantiating, up to ready
//   list_all_1000_ms  one list-all-incidents (top 1000), after a first call
//                     warmed the instance and fetched the token

import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SentinelHost, transpile } from './host.mjs';

const [wasmPath, emulator] = process.argv.slice(2);
if (!wasmPath || !emulator) {
  console.error('usage: node bench.mjs WASM_PATH EMULATOR_URL');
  process.exit(2);
}
const U = new URL(emulator).origin;
const version = async (name) => JSON.parse(await readFile(new URL(`./node_modules/${name}/package.json`, import.meta.url))).version;
const ms = (since) => Math.round((performance.now() - since) * 10) / 10;

const dir = await mkdtemp(join(tmpdir(), 'sentinel-node-'));
let host;
try {
  let t = performance.now();
  await transpile(wasmPath, dir);
  const transpileMs = ms(t);

  const entry = (await readdir(dir)).find((file) => file.endsWith('.js'));
  t = performance.now();
  await import(pathToFileURL(join(dir, entry)).href);
  const importMs = ms(t);

  t = performance.now();
  host = await SentinelHost.start({ component: dir, allowedOrigins: [U] });
  const instantiateMs = ms(t);

  const connection = await host.open({
    tenantId: '8a1b4c2d-0e5f-4a6b-9c7d-1e2f3a4b5c6d',
    clientId: '5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b',
    credential: { tag: 'client-secret', val: 'emulator-client-secret' },
    subscriptionId: 'd0cfe6b2-9ac0-4464-9919-dccaee2e48c0',
    resourceGroup: 'myRg',
    workspaceName: 'myWorkspace',
    cloud: { tag: 'custom', val: { loginUrl: U, armUrl: U, logAnalyticsUrl: U, graphUrl: U } },
  });
  const options = { top: 1000 };
  await connection.listAllIncidents(options);
  t = performance.now();
  const incidents = await connection.listAllIncidents(options);
  const listMs = ms(t);

  console.log(JSON.stringify({
    host: 'node',
    versions: {
      node: process.versions.node,
      jco: await version('@bytecodealliance/jco'),
      preview2_shim: await version('@bytecodealliance/preview2-shim'),
    },
    transpile_ms: transpileMs,
    import_ms: importMs,
    load_ms: Math.round((transpileMs + importMs) * 10) / 10,
    instantiate_ms: instantiateMs,
    list_all_1000_ms: listMs,
    incidents: incidents.length,
  }));
} catch (error) {
  console.error(`bench failed: ${error?.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await host?.close();
  await rm(dir, { recursive: true, force: true });
}
