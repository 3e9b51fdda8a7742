// Embedding the connector in a Node.js SOAR: the component transpiled once,
// one SentinelHost (a worker thread with the operator's allow-list, limits
// and audit callback) per tenant, typed errors.
// Usage: node embed.mjs WASM_PATH ENDPOINT

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SentinelHost, ConnectorError, transpile } from './host.mjs'; // in a SOAR: from 'sentinel-host'

const [wasmPath, endpoint] = process.argv.slice(2);

// A tenant's connection as the SOAR stores it; the secret comes from its vault.
// (Against Azure: cloud: { tag: 'public' } and the tenant's own ids.)
const tenantConfig = (clientSecret) => ({
  tenantId: '8a1b4c2d-0e5f-4a6b-9c7d-1e2f3a4b5c6d',
  clientId: '5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b',
  credential: { tag: 'client-secret', val: clientSecret },
  subscriptionId: 'd0cfe6b2-9ac0-4464-9919-dccaee2e48c0',
  resourceGroup: 'myRg',
  workspaceName: 'myWorkspace',
  cloud: {
    tag: 'custom',
    val: {
      loginUrl: endpoint, armUrl: endpoint, logAnalyticsUrl: endpoint, graphUrl: endpoint,
      armScope: 'https://management.azure.com/.default',
      logAnalyticsScope: 'https://api.loganalytics.io/.default',
      graphScope: 'https://graph.microsoft.com/.default',
    },
  },
});

// Once per build of the component.
const transpiled = await mkdtemp(join(tmpdir(), 'sentinel-js-'));
await transpile(wasmPath, transpiled);
const secret = process.env.SENTINEL_CLIENT_SECRET ?? 'emulator-client-secret';

// One host per tenant: its own worker, memory and deadline. The allow-list
// and limits are the operator's; the audit callback runs on this thread.
let listed = 0;
const hosts = {};
for (const tenant of ['contoso', 'fabrikam']) {
  hosts[tenant] = await SentinelHost.start({
    component: transpiled,
    allowedOrigins: [new URL(endpoint).origin],
    callTimeoutMs: 120_000,
    maxMemoryMb: 32,
    onAudit: (record) => console.error(`audit ${tenant}: ${record.method} ${record.path} ${record.outcome}`),
  });
  const connection = await hosts[tenant].open(tenantConfig(secret), { tenant });
  listed += (await connection.listAllIncidents({})).length;
}

let described;
try {
  const connection = await hosts.contoso.open(tenantConfig(secret), { tenant: 'contoso' });
  await connection.getIncident('00000000-0000-0000-0000-000000000000');
  described = 'found';
} catch (error) {
  if (!(error instanceof ConnectorError)) throw error; // a HostError: deadline, trap, lost worker
  described = `${error.kind}: ${error.hint} (${error.clientRequestId}, ${error.requestId})`;
}
await Promise.all(Object.values(hosts).map((host) => host.close()));
console.log(JSON.stringify({ listed, error: described }));
