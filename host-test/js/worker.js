// The worker side of SentinelHost: one component instance per worker thread.
//
// jco's preview2-shim performs HTTP synchronously (the guest blocks in
// wasi:io/poll while a helper thread does the I/O), so a call blocks the
// thread it runs on. Running the instance here keeps the SOAR's event loop
// free, and lets the main thread enforce a call deadline by terminating us.
//
// Protocol (main -> worker): {id, op: 'open'|'call'|'close'|'free', ...}
// (worker -> main): {ready, api} once; per outgoing request {sent, seq} when
// it goes out and {audit, seq} when answered (denied ones: {audit} only); one
// {id, ok} | {id, err} (the WIT `connector-error` record) | {id, fault} per message.
// Calls arrive one at a time: the main thread queues them so that a deadline
// measures a call's own run time, and so `current` below is the caller.

import { parentPort, workerData } from 'node:worker_threads';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cli, clocks, http, io, random } from '@bytecodealliance/preview2-shim';

const { dir, entry, allowedOrigins, maxMemoryMb, maxRequestTimeoutMs } = workerData;

/** Who the running call is for: the tenant label audit records carry. */
let current = { tenant: '' };

// ---- Egress: the operator's allow-list, checked where the request is sent.

const DEFAULT_PORT = { http: '80', https: '443' };

/** `scheme://host:port`, lower case, the port always explicit; null when unparsable. */
function originKey(scheme, authority) {
  try {
    const url = new URL(`${scheme}://${authority}`);
    if (!(url.protocol.slice(0, -1) in DEFAULT_PORT) || url.username || url.password) return null;
    return `${url.protocol}//${url.hostname}:${url.port || DEFAULT_PORT[url.protocol.slice(0, -1)]}`;
  } catch {
    return null;
  }
}

const allowed = new Set(
  allowedOrigins.map((origin) => {
    const url = new URL(origin);
    const key = originKey(url.protocol.slice(0, -1), url.host);
    if (!key || url.pathname !== '/' || url.search) throw new Error(`not an origin: ${origin}`);
    return key;
  }),
);

// Only id-like header values reach the audit log (as the Rust host does):
// a header can never smuggle a token or free text into it.
const ID_LIKE = /^[A-Za-z0-9._-]{1,128}$/;
const decoder = new TextDecoder();
function idHeader(fields, names) {
  for (const name of names) {
    const [value] = fields.get(name);
    if (value) {
      const text = decoder.decode(value);
      return ID_LIKE.test(text) ? text : undefined;
    }
  }
  return undefined;
}

let nextRequest = 1;

/** `seq` pairs a finished request with its `sent` notice (see index.js). */
function audit(record, seq) {
  parentPort.postMessage({ audit: { tenant: current.tenant, ...record }, seq });
}

// Every request timeout set and none above the host's cap (as the Rust host
// does): a guest cannot wait on a silent server longer than the operator allows.
const MAX_TIMEOUT_NS = BigInt(maxRequestTimeoutMs) * 1_000_000n;
function capTimeouts(options) {
  const capped = options ?? new http.types.RequestOptions();
  for (const name of ['ConnectTimeout', 'FirstByteTimeout', 'BetweenBytesTimeout']) {
    const value = capped[name[0].toLowerCase() + name.slice(1)]();
    if (value === undefined || value > MAX_TIMEOUT_NS) capped[`set${name}`](MAX_TIMEOUT_NS);
  }
  return capped;
}

/** wasi:http/outgoing-handler.handle: the allow-list, then the shim's own handler. */
function handle(request, options) {
  const started = performance.now();
  const schemeTag = request.scheme();
  const scheme = schemeTag === undefined ? 'https' : schemeTag.tag === 'other' ? schemeTag.val.toLowerCase() : schemeTag.tag.toLowerCase();
  const authority = request.authority() ?? '';
  const method = request.method().tag === 'other' ? request.method().val : request.method().tag.toUpperCase();
  // Only the path: a query can hold anything (a filter, a continuation token).
  const path = (request.pathWithQuery() ?? '/').split('?')[0];
  const key = originKey(scheme, authority);
  const record = {
    method,
    origin: key ?? `${scheme}://${authority}`,
    path,
    clientRequestId: idHeader(request.headers(), ['x-ms-client-request-id']),
  };
  if (key === null || !allowed.has(key)) {
    audit({ ...record, outcome: 'denied', elapsedMs: 0 });
    // The wasi:http error-code the component maps to `transport` ("denied");
    // returned as the result's err, which keeps the instance healthy.
    return { tag: 'err', val: { tag: 'HTTP-request-denied' } };
  }
  const future = http.outgoingHandler.handle(request, capTimeouts(options));
  // Tell the main thread before waiting: if a deadline ends this thread
  // mid-request, the main thread still writes the request's record.
  const seq = nextRequest++;
  parentPort.postMessage({ sent: { tenant: current.tenant, ...record }, seq });
  // Observe the answer when the guest first takes it from the future: an own
  // `get` on the shim's object keeps it the same resource (instanceof holds).
  const get = future.get;
  future.get = function () {
    const result = get.call(this);
    if (result !== undefined) {
      delete this.get;
      const elapsedMs = Math.round(performance.now() - started);
      const inner = result.tag === 'ok' ? result.val : { tag: 'err', val: { tag: 'internal-error' } };
      if (inner.tag === 'ok') {
        const response = inner.val;
        audit({
          ...record,
          outcome: response.status(),
          elapsedMs,
          requestId: idHeader(response.headers(), ['x-ms-request-id', 'request-id']),
        }, seq);
      } else {
        audit({ ...record, outcome: `failed (${inner.val.tag})`, elapsedMs }, seq);
      }
    }
    return result;
  };
  return future;
}

// ---- Memory: the component's linear memory gets a declared maximum.
//
// Worker resourceLimits bound the V8 heap only; Wasm memory lives outside it.
// So the core module that defines the memory is rewritten before compiling,
// setting its limits' maximum: memory.grow then fails past the cap and the
// guest's allocator aborts the call, as with wasmtime's ResourceLimiter.

function leb(value) {
  const out = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return out;
}

function readLeb(bytes, at) {
  let value = 0;
  let shift = 0;
  let byte;
  do {
    byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, at];
}

function capMemory(bytes, maxPages) {
  let at = 8; // magic and version
  while (at < bytes.length) {
    const id = bytes[at];
    const [size, body] = readLeb(bytes, at + 1);
    if (id === 5) {
      const [count, limits] = readLeb(bytes, body);
      const flags = bytes[limits];
      if (count !== 1 || flags > 1) throw new Error(`cannot cap this memory (count ${count}, flags ${flags})`);
      const [min, afterMin] = readLeb(bytes, limits + 1);
      const declaredMax = flags === 1 ? readLeb(bytes, afterMin)[0] : Infinity;
      const max = Math.min(declaredMax, maxPages);
      if (min > max) throw new Error(`the component needs ${min} pages at start, over the ${maxPages}-page cap`);
      const section = [1, 1, ...leb(min), ...leb(max)];
      return Buffer.concat([bytes.subarray(0, at), Buffer.from([5, ...leb(section.length), ...section]), bytes.subarray(body + size)]);
    }
    at = body + size;
  }
  return bytes; // no memory defined here (it imports one, or has none)
}

async function getCoreModule(file) {
  const bytes = await readFile(join(dir, file));
  return WebAssembly.compile(maxMemoryMb ? capMemory(bytes, Math.floor((maxMemoryMb * 1024 * 1024) / 65536)) : bytes);
}

// ---- Instantiation: the shim, minus everything ambient.

const imports = {
  // No environment, no arguments, no working directory: the shim would
  // otherwise hand the guest all of process.env.
  'wasi:cli/environment': { getEnvironment: () => [], getArguments: () => [], initialCwd: () => undefined },
  'wasi:cli/exit': cli.exit,
  'wasi:cli/stderr': cli.stderr,
  'wasi:cli/stdin': cli.stdin,
  // The guest's stdout goes to stderr: the host process's stdout is its own.
  'wasi:cli/stdout': { getStdout: cli.stderr.getStderr },
  'wasi:cli/terminal-input': cli.terminalInput,
  'wasi:cli/terminal-output': cli.terminalOutput,
  'wasi:cli/terminal-stderr': cli.terminalStderr,
  'wasi:cli/terminal-stdin': cli.terminalStdin,
  'wasi:cli/terminal-stdout': cli.terminalStdout,
  'wasi:clocks/monotonic-clock': clocks.monotonicClock,
  'wasi:clocks/wall-clock': clocks.wallClock,
  'wasi:http/outgoing-handler': { handle },
  'wasi:http/types': http.types,
  'wasi:io/error': io.error,
  'wasi:io/poll': io.poll,
  'wasi:io/streams': io.streams,
  'wasi:random/insecure-seed': random.insecureSeed,
  'wasi:random/random': random.random,
  // No wasi:filesystem here: the component does not import it (a build that
  // did would fail to instantiate, rather than get the host's disk).
};

const { instantiate } = await import(pathToFileURL(join(dir, entry)).href);
const root = await instantiate(getCoreModule, imports);
const { Connection } = root.sentinelConnector;

/** The callable surface, from the instance itself (no hand-written list). */
const functionsOf = (object) => Object.keys(object).filter((name) => typeof object[name] === 'function');
const api = {
  connection: Object.getOwnPropertyNames(Connection.prototype).filter(
    (name) => name !== 'constructor' && typeof Connection.prototype[name] === 'function',
  ),
  // Every other exported interface with functions (graphSecurity,
  // containment, analyticsRules, ...): each takes the connection first.
  interfaces: Object.fromEntries(
    Object.entries(root)
      .filter(([name]) => name !== 'sentinelConnector' && name !== 'types')
      .map(([name, object]) => [name, functionsOf(object)])
      .filter(([, functions]) => functions.length > 0),
  ),
  free: functionsOf(root.sentinelConnector).filter((name) => name !== 'Connection'),
};

// ---- Results: s64 fields come as BigInt; a Number when it is exact.

function toNumbers(value) {
  if (typeof value === 'bigint') return value >= Number.MIN_SAFE_INTEGER && value <= Number.MAX_SAFE_INTEGER ? Number(value) : value;
  if (Array.isArray(value)) return value.map(toNumbers);
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const [key, field] of Object.entries(value)) out[key] = toNumbers(field);
    return out;
  }
  return value;
}

const connections = new Map();
let nextConnection = 1;

function run(message) {
  switch (message.op) {
    case 'open': {
      current = { tenant: message.tenant };
      const connection = Connection.open(message.config);
      connections.set(nextConnection, { connection, tenant: message.tenant });
      return nextConnection++;
    }
    case 'call': {
      const entry = connections.get(message.connection);
      if (!entry) throw Object.assign(new Error('this connection is closed'), { reason: 'connection-lost' });
      current = { tenant: entry.tenant };
      const { iface, fn, args } = message;
      if (iface === 'connection') return entry.connection[fn](...args);
      if (!Object.hasOwn(api.interfaces, iface) || !api.interfaces[iface].includes(fn)) {
        throw new TypeError(`the component exports no ${iface}.${fn}`);
      }
      return root[iface][fn](entry.connection, ...args);
    }
    case 'close': {
      connections.get(message.connection)?.connection[Symbol.dispose ?? Symbol.for('dispose')]?.();
      connections.delete(message.connection);
      return undefined;
    }
    case 'free': {
      current = { tenant: '' };
      return root.sentinelConnector[message.fn](...message.args);
    }
    default:
      throw new Error(`unknown op ${message.op}`);
  }
}

parentPort.on('message', (message) => {
  try {
    parentPort.postMessage({ id: message.id, ok: toNumbers(run(message)) });
  } catch (error) {
    // jco wraps a `result` error in ComponentError with the variant as `payload`.
    if (error && Object.hasOwn(error, 'payload')) parentPort.postMessage({ id: message.id, err: toNumbers(error.payload) });
    else parentPort.postMessage({ id: message.id, fault: { message: String(error?.message ?? error), reason: error?.reason ?? 'trap', stack: error?.stack } });
  } finally {
    current = { tenant: '' };
  }
});

parentPort.postMessage({ ready: true, api });
