// The polyglot scenario through the Node host (spec: scenario.md of issue 15).
// Usage: node scenario.mjs WASM_PATH EMULATOR_URL
// Prints one JSON line (the same document the Rust and Python hosts print);
// exit 1 with a message on stderr on any unexpected error.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SentinelHost, ConnectorError, transpile } from './host.mjs';

const [wasmPath, emulator] = process.argv.slice(2);
if (!wasmPath || !emulator) {
  console.error('usage: node scenario.mjs WASM_PATH EMULATOR_URL');
  process.exit(2);
}
const base = new URL(emulator);
const U = base.origin;

const configFor = (graphUrl) => ({
  tenantId: '8a1b4c2d-0e5f-4a6b-9c7d-1e2f3a4b5c6d',
  clientId: '5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b',
  credential: { tag: 'client-secret', val: 'emulator-client-secret' },
  subscriptionId: 'd0cfe6b2-9ac0-4464-9919-dccaee2e48c0',
  resourceGroup: 'myRg',
  workspaceName: 'myWorkspace',
  workspaceId: undefined,
  cloud: {
    tag: 'custom',
    val: {
      loginUrl: U,
      armUrl: U,
      logAnalyticsUrl: U,
      graphUrl,
      armScope: 'https://management.azure.com/.default',
      logAnalyticsScope: 'https://api.loganalytics.io/.default',
      graphScope: 'https://graph.microsoft.com/.default',
    },
  },
  apiVersion: undefined,
  timeouts: undefined,
  retry: undefined,
  protectedAccounts: { userIds: [], userPrincipalNames: ['alice@contoso.onmicrosoft.com'], groups: [] },
});

/** The error an expected failure must be; anything else is unexpected. */
async function expectError(promise, step) {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ConnectorError) return error;
    throw error;
  }
  throw new Error(`${step}: succeeded, but the scenario expects an error`);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const dir = await mkdtemp(join(tmpdir(), 'sentinel-node-'));
let host;
try {
  await transpile(wasmPath, dir);
  const audit = [];
  host = await SentinelHost.start({
    component: dir,
    allowedOrigins: [U], // the operator's list: exactly the emulator's origin
    onAudit: (record) => audit.push(record),
  });
  const connection = await host.open(configFor(U), { tenant: 'polyglot' });
  const out = {};

  const all = await connection.listAllIncidents({ filter: undefined, orderby: undefined, top: 5, continuation: undefined, maxPages: undefined });
  out.ids = all.map((incident) => incident.id);
  out.got = (await connection.getIncident(out.ids[0])).id;

  const updated = await connection.updateIncident(out.ids[0], {
    title: undefined,
    description: undefined,
    severity: undefined,
    status: { tag: 'active' },
    classification: undefined,
    classificationReason: undefined,
    classificationComment: undefined,
    owner: undefined,
    addLabels: [],
    removeLabels: [],
    updateMergedSource: false,
  });
  out.status = updated.status.tag;

  const comment = () => connection.addComment(out.ids[0], 'Triaged from the polyglot scenario', 'polyglot-1');
  out.comments = (await comment()).map((c) => c.id);
  out.comments_again = (await comment()).map((c) => c.id);

  const pollOptions = {
    firstFetch: '2000-01-01T00:00:00Z',
    lookBackSeconds: undefined,
    maxEvents: 5,
    includeUpdates: false,
    minSeverity: undefined,
    statuses: [],
    titleIncludes: [],
    titleExcludes: [],
    includeDetails: false,
    detailConcurrency: undefined,
    ignoreMerges: false,
    ownWrites: [],
  };
  const batches = [];
  let cursor;
  let firstCursor;
  for (let polls = 0; polls < 10; polls++) {
    const batch = await connection.poll(cursor, pollOptions);
    firstCursor ??= batch.cursor;
    cursor = batch.cursor;
    if (batch.events.length === 0) break;
    batches.push(batch.events.map((event) => [event.kind, event.incident.id]));
  }
  out.poll = batches;
  out.first_cursor = firstCursor;

  const outcome = await connection.containment.contain('bob@contoso.onmicrosoft.com', { tag: 'disable-account' }, true);
  out.dry_run = {
    dry_run: outcome.dryRun,
    user: outcome.user.id,
    method: outcome.request.method,
    url: outcome.request.url,
    body: outcome.request.body ?? null,
  };

  const protectedError = await expectError(
    connection.containment.contain('alice@contoso.onmicrosoft.com', { tag: 'disable-account' }, false),
    'protected',
  );
  out.protected = { kind: protectedError.kind, subject: protectedError.subject };

  const rules = await connection.analyticsRules.listRules();
  const scheduled = rules.find((rule) => rule.kind.tag === 'scheduled').id;
  const off = await connection.analyticsRules.setRuleEnabled(scheduled, false);
  const on = await connection.analyticsRules.setRuleEnabled(scheduled, true);
  out.rules = { ids: rules.map((rule) => rule.id), off: off.enabled, on: on.enabled };

  const ti = connection.threatIntelligence;
  const newIndicator = {
    observable: { tag: 'ip', val: '192.0.2.44' },
    labels: [],
    threatTypes: [],
    tags: ['polyglot'],
  };
  const firstIndicator = await ti.createIndicator(newIndicator);
  const secondIndicator = await ti.createIndicator(newIndicator);
  const found = await ti.queryIndicators({
    keywords: ['192.0.2.44'],
    patternTypes: [],
    sources: [],
    threatTypes: [],
    ids: [],
    includeDisabled: false,
    sortBy: [],
  });
  await ti.deleteIndicator(firstIndicator.indicator.name);
  out.indicators = {
    pattern: firstIndicator.indicator.pattern,
    created: [firstIndicator.created, secondIndicator.created],
    same_name: firstIndicator.indicator.name === secondIndicator.indicator.name,
    found: found.indicators.map((indicator) => indicator.pattern),
    tags: firstIndicator.indicator.tags,
  };

  const wl = connection.watchlists;
  const made = await wl.createWatchlist('PolyglotVIP', {
    displayName: 'Polyglot VIP',
    itemsSearchKey: 'UPN',
    content: 'UPN,Role\nalice@contoso.onmicrosoft.com,admin\n',
    format: 'csv',
    linesToSkip: 0,
    labels: [],
  }, undefined);
  const bob = [{ column: 'UPN', value: 'bob@contoso.onmicrosoft.com' }, { column: 'Role', value: 'analyst' }];
  const upserted = [];
  for (let i = 0; i < 2; i++) upserted.push((await wl.upsertItem('PolyglotVIP', bob)).created);
  const probes = ['alice@contoso.onmicrosoft.com', 'bob@contoso.onmicrosoft.com', 'eve@contoso.onmicrosoft.com'];
  const members = await wl.watchlistContains('PolyglotVIP', probes, 'items');
  await wl.deleteWatchlist('PolyglotVIP', undefined);
  out.watchlists = { alias: made.alias, upserted, contains: members.map((m) => [m.value, m.found]) };

  const notFound = await expectError(connection.getIncident('00000000-0000-0000-0000-000000000000'), 'not_found');
  out.not_found = {
    kind: notFound.kind,
    status: notFound.status,
    traced: UUID.test(notFound.clientRequestId) && notFound.requestId !== '',
  };

  // Same emulator, but under a name the allow-list does not hold.
  const second = await host.open(configFor(`http://localhost:${base.port}`), { tenant: 'polyglot-denied' });
  const denied = await expectError(second.containment.getUser('bob@contoso.onmicrosoft.com'), 'denied');
  out.denied = { kind: denied.kind, denied: denied.record.message.includes('denied') };

  out.audit = audit.filter((record) => record.tenant === 'polyglot').map((record) => [record.method, record.path, record.outcome]);

  process.stdout.write(`${JSON.stringify(out)}\n`);
} catch (error) {
  console.error(`scenario failed: ${error?.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await host?.close();
  await rm(dir, { recursive: true, force: true });
}
