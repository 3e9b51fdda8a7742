// Types of sentinel-host. The connector's own records (ConnectionConfig,
// Incident, ...) are jco's: `jco types wit --world-name connector` generates
// them (tests/node/connector.d.ts.snapshot holds the current output). Here
// they are `any`, because the methods are generated from the instance's
// export list at run time; results differ from jco's types in one way:
// s64 fields are Numbers when exact (|n| <= 2^53 - 1), else stay BigInt.

export interface AuditRecord {
  /** The connection's label (`open`'s `tenant`, default the config's tenantId). */
  tenant: string;
  /** GET, PUT, POST, ... */
  method: string;
  /** scheme://host:port, the port explicit. */
  origin: string;
  /** The path without its query. */
  path: string;
  /** The HTTP status; 'denied' (not in the allow-list, nothing sent); or 'failed (why)'. */
  outcome: number | 'denied' | string;
  elapsedMs: number;
  /** The request's x-ms-client-request-id, when it looks like an id. */
  clientRequestId?: string;
  /** The answer's x-ms-request-id (Graph: request-id), when it looks like an id. */
  requestId?: string;
}

export interface HostOptions {
  /** A directory of jco output in instantiation mode (see `transpile`). */
  component: string;
  /** The operator's egress allow-list: origins like 'https://management.azure.com'. Nothing else is reachable. */
  allowedOrigins: string[];
  /** Wall-clock deadline of one call (default 300000). Past it the worker is replaced. */
  callTimeoutMs?: number;
  /** The longest connect, first-byte or between-bytes timeout a request gets (default 120000). */
  maxRequestTimeoutMs?: number;
  /** Cap of the component's linear memory in MiB (default 64). */
  maxMemoryMb?: number;
  /** Cap of the worker's JS heap in MiB (default 256): worker resourceLimits. */
  maxHeapMb?: number;
  /** One record per outgoing request, on the main thread. */
  onAudit?: (record: AuditRecord) => void;
}

/** The WIT `error` record of a failed call. */
export class ConnectorError extends Error {
  name: 'ConnectorError';
  /** The record as returned; `record.message` is the bare message. */
  record: Record<string, any>;
  kind:
    | 'invalid-input' | 'auth' | 'forbidden' | 'not-found' | 'conflict' | 'throttled'
    | 'bad-request' | 'service' | 'transport' | 'invalid-response' | 'protected-account';
  subject: string;
  status: number;
  code: string;
  hint: string;
  retryAfterSeconds?: number;
  /** '' when the component predates the field. */
  clientRequestId: string;
  requestId: string;
}

export class HostError extends Error {
  name: 'HostError';
  reason: 'timeout' | 'connection-lost' | 'trap' | 'worker-exit' | 'closed';
}

type Fn = (...args: any[]) => Promise<any>;

/** Methods of `sentinel-connector.connection`, camelCase (listAllIncidents, addComment, poll, ...). */
export interface Connection {
  [method: string]: Fn | Record<string, Fn>;
  /** graph-security functions; the connection is passed for you. */
  graphSecurity: Record<string, Fn>;
  /** containment functions (getUser, listRiskyUsers, contain, containAccount). */
  containment: Record<string, Fn>;
  /** analytics-rules functions (listRules, getRule, setRuleEnabled). */
  analyticsRules: Record<string, Fn>;
  /** watchlists functions (listWatchlists, createWatchlist, upsertItem, watchlistContains, addEntities, ...). */
  watchlists: Record<string, Fn>;
  close(): Promise<void>;
}

export class SentinelHost {
  static start(options: HostOptions): Promise<SentinelHost>;
  /** Validates the config (sends nothing) and opens a connection in the current worker. */
  open(config: any, options?: { tenant?: string }): Promise<Connection>;
  /** The free function of `sentinel-connector`. */
  permissionManifest(): Promise<any[]>;
  close(): Promise<void>;
}

/** jco transpile in instantiation mode into `outDir`; resolves to `outDir`. */
export function transpile(wasmPath: string, outDir: string): Promise<string>;
