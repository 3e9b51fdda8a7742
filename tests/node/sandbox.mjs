// The Node host's sandbox checks that the scenario does not cover.
// Usage: node sandbox.mjs WASM_PATH SLOW_EMULATOR_URL
// where the emulator was started with `--latency 3000` (every answer but the
// token's waits 3 s). Prints one JSON line of findings; exit 1 on a failure.
//
// - deadline: a call over its 500 ms deadline rejects with HostError
//   'timeout' in about that time (the worker is terminated mid-request);
// - the event loop kept running while the call was blocked in the worker;
// - the old connection then fails with 'connection-lost', and the host works:
//   a new connection opens and answers (an input check, no request);
// - memory: a cap below the component's initial memory refuses to start.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SentinelHost, HostError, ConnectorError, transpile } from './host.mjs';

const [wasmPath, emulator] = process.argv.slice(2);
if (!wasmPath || !emulator) {
  console.error('usage: node sandbox.mjs WASM_PATH SLOW_EMULATOR_URL');
  process.exit(2);
}
const U = new URL(emulator).origin;
const config = {
  tenantId: '8a1b4c2d-0e5f-4a6b-9c7d-1e2f3a4b5c6d',
  clientId: '5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b',
  credential: { tag: 'client-secret', val: 'emulator-client-secret' },
  subscriptionId: 'd0cfe6b2-9ac0-4464-9919-dccaee2e48c0',
  resourceGroup: 'myRg',
  workspaceName: 'myWorkspace',
  cloud: { tag: 'custom', val: { loginUrl: U, armUrl: U, logAnalyticsUrl: U, graphUrl: U } },
};

async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const dir = await mkdtemp(join(tmpdir(), 'sentinel-node-'));
const findings = {};
let host;
try {
  await transpile(wasmPath, dir);
  const audit = [];
  host = await SentinelHost.start({ component: dir, allowedOrigins: [U], callTimeoutMs: 500, onAudit: (r) => audit.push(r) });
  const connection = await host.open(config);

  let ticks = 0;
  const ticker = setInterval(() => ticks++, 10);
  const started = performance.now();
  const timeout = await rejection(connection.listIncidents({ top: 1 }));
  const elapsed = Math.round(performance.now() - started);
  clearInterval(ticker);
  assert.ok(timeout instanceof HostError, `not a HostError: ${timeout}`);
  assert.equal(timeout.reason, 'timeout');
  // Loose bounds: CI runs this beside other tests on two busy cores.
  assert.ok(elapsed >= 500 && elapsed < 2900, `deadline hit after ${elapsed} ms (the answer comes after 3000)`);
  assert.ok(ticks >= 5, `the event loop ran only ${ticks} ticks of 10 ms during a 500 ms call`);
  findings.deadline = { reason: timeout.reason, elapsed_ms: elapsed, event_loop_ticks: ticks };

  const lost = await rejection(connection.getIncident('x'));
  assert.equal(lost.reason, 'connection-lost');
  findings.old_connection = lost.reason;

  const fresh = await host.open(config);
  const invalid = await rejection(fresh.getIncident('a/b'));
  assert.ok(invalid instanceof ConnectorError, `not a ConnectorError: ${invalid}`);
  assert.equal(invalid.kind, 'invalid-input');
  findings.after = { kind: invalid.kind, permissions: (await host.permissionManifest()).length };
  findings.audit_of_timed_out_call = audit.map((r) => [r.method, r.outcome]);
  await host.close();

  const tooSmall = await rejection(SentinelHost.start({ component: dir, allowedOrigins: [], maxMemoryMb: 1 }));
  assert.match(String(tooSmall.message), /pages at start/);
  findings.memory_cap = tooSmall.message;

  process.stdout.write(`${JSON.stringify(findings)}\n`);
} catch (error) {
  console.error(`sandbox check failed: ${error?.stack ?? error}\nso far: ${JSON.stringify(findings)}`);
  process.exitCode = 1;
} finally {
  await host?.close();
  await rm(dir, { recursive: true, force: true });
}
