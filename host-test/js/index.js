// A Node host for the Sentinel connector component: the component runs
// jco-transpiled in a worker thread (jco's WASI shim blocks the thread during
// HTTP), with the operator's egress allow-list, one audit record per request,
// no environment, a call deadline and a memory cap. See README.md for what it
// guarantees next to the Rust host, and what it cannot.

import { Worker } from 'node:worker_threads';
import { readdir } from 'node:fs/promises';
import { resolve } from 'node:path';

export { transpile } from './transpile.js';

/** The WIT `connector-error` record of a failed call, as an Error. */
export class ConnectorError extends Error {
  constructor(record) {
    const where = [record.kind, record.status ? `HTTP ${record.status}` : '', record.code, record.subject && `subject ${record.subject}`]
      .filter(Boolean)
      .join(', ');
    super(`${record.message} [${where}]${record.hint ? ` Hint: ${record.hint}` : ''}`);
    this.name = 'ConnectorError';
    /** The record exactly as the component returned it (its `message` is the bare one). */
    this.record = record;
    this.kind = record.kind;
    this.subject = record.subject;
    this.status = record.status;
    this.code = record.code;
    this.hint = record.hint;
    this.retryAfterSeconds = record.retryAfterSeconds;
    // Fields of newer builds; '' when the component predates them.
    this.clientRequestId = record.clientRequestId ?? '';
    this.requestId = record.requestId ?? '';
  }
}

/**
 * A failure of the host rather than of the connector: `reason` is 'timeout'
 * (the call passed its deadline; the instance was replaced), 'connection-lost'
 * (the connection belonged to a replaced instance), 'trap' (the component
 * trapped; the instance was replaced), 'worker-exit' (the worker died, e.g.
 * out of JS heap) or 'closed' (the host was closed).
 */
export class HostError extends Error {
  constructor(reason, message) {
    super(message);
    this.name = 'HostError';
    this.reason = reason;
  }
}

/** One tenant's connection, living in the host's current worker. */
export class Connection {
  #send;
  #closed = false;

  constructor(send, api) {
    this.#send = send;
    // One method per exported function, named as jco names them (camelCase);
    // the connection is passed for the interfaces that take it as a borrow.
    for (const fn of api.connection) this[fn] = (...args) => this.#call('connection', fn, args);
    for (const [iface, functions] of Object.entries(api.interfaces)) {
      this[iface] = Object.fromEntries(functions.map((fn) => [fn, (...args) => this.#call(iface, fn, args)]));
    }
  }

  #call(iface, fn, args) {
    if (this.#closed) return Promise.reject(new HostError('closed', 'this connection is closed'));
    return this.#send({ op: 'call', iface, fn, args });
  }

  /** Drops the connection (and its token cache) in the component. */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    await this.#send({ op: 'close' }).catch((error) => {
      if (!(error instanceof HostError)) throw error; // gone with its worker already
    });
  }
}

export class SentinelHost {
  #options;
  #entry;
  #worker = null;
  #ready; // Promise<api> of the current worker
  #generation = 0;
  #pending = new Map();
  #inflight = new Map(); // seq -> {record, started}: requests sent, not yet answered
  #nextId = 1;
  #queue = Promise.resolve();
  #closed = false;

  /**
   * @param {import('./index.d.ts').HostOptions} options
   */
  static async start(options) {
    const dir = resolve(options.component);
    const scripts = (await readdir(dir)).filter((file) => file.endsWith('.js'));
    if (scripts.length !== 1) throw new Error(`${dir}: expected one jco-transpiled .js file, found ${scripts.length}`);
    const host = new SentinelHost({ callTimeoutMs: 300_000, maxRequestTimeoutMs: 120_000, maxMemoryMb: 64, maxHeapMb: 256, ...options, component: dir }, scripts[0]);
    const { api } = await host.#ready;
    // The free functions of `sentinel-connector` (permissionManifest), as methods.
    for (const fn of api.free) host[fn] = (...args) => host.#request({ op: 'free', fn, args });
    return host;
  }

  constructor(options, entry) {
    if (!Array.isArray(options.allowedOrigins)) throw new TypeError('allowedOrigins: the operator\'s list of origins (may be empty)');
    this.#options = options;
    this.#entry = entry;
    this.#spawn();
  }

  /** Starts a fresh worker (and instance); connections of the previous one are lost. */
  #spawn() {
    const generation = ++this.#generation;
    const { component, allowedOrigins, maxMemoryMb, maxHeapMb, maxRequestTimeoutMs } = this.#options;
    const worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: { dir: component, entry: this.#entry, allowedOrigins, maxMemoryMb, maxRequestTimeoutMs },
      // The worker's own process.env is empty too, not only the guest's.
      env: {},
      // Bounds the JS heap of the glue code; Wasm memory is capped in worker.js.
      resourceLimits: { maxOldGenerationSizeMb: maxHeapMb },
    });
    this.#worker = worker;
    this.#ready = new Promise((resolveReady, rejectReady) => {
      let started = false;
      worker.on('message', (message) => {
        if (this.#worker !== worker) return; // replaced: its in-flight records were flushed
        if (message.sent) this.#inflight.set(message.seq, { record: message.sent, started: performance.now() });
        else if (message.audit) {
          this.#inflight.delete(message.seq);
          this.#options.onAudit?.(message.audit);
        } else if (message.ready) {
          started = true;
          resolveReady({ api: message.api, generation });
        } else this.#settle(message);
      });
      const die = (error) => {
        if (this.#worker !== worker) return; // replaced on purpose
        this.#worker = null;
        this.#flushInflight('worker stopped');
        rejectReady(error); // a worker that never started: every call fails with why
        this.#failPending(new HostError('worker-exit', `the component's worker stopped: ${error.message}`));
        if (started && !this.#closed) this.#spawn(); // e.g. out of heap: a fresh instance
      };
      worker.on('error', die);
      worker.on('exit', (code) => die(new Error(`exit code ${code}`)));
    });
    this.#ready.catch(() => {}); // observed by the next call
  }

  #settle(message) {
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    clearTimeout(pending.timer);
    if ('ok' in message) pending.resolve(message.ok);
    else if ('err' in message) pending.reject(new ConnectorError(message.err));
    else if (message.fault.reason === 'connection-lost') pending.reject(new HostError('connection-lost', message.fault.message));
    else {
      // A trap leaves a jco instance unusable: replace it.
      pending.reject(new HostError('trap', `the component trapped: ${message.fault.message}`));
      this.#replace('trap');
    }
  }

  #failPending(error) {
    for (const { reject, timer } of this.#pending.values()) {
      clearTimeout(timer);
      reject(error);
    }
    this.#pending.clear();
  }

  /** The records of requests a terminated worker never saw answered. */
  #flushInflight(why) {
    for (const { record, started } of this.#inflight.values()) {
      this.#options.onAudit?.({ ...record, outcome: `failed (${why})`, elapsedMs: Math.round(performance.now() - started) });
    }
    this.#inflight.clear();
  }

  #replace(why) {
    const old = this.#worker;
    this.#worker = null;
    this.#flushInflight(why);
    old?.terminate();
    if (!this.#closed) this.#spawn();
  }

  /**
   * Runs one message in the worker, one at a time (so a deadline counts the
   * call's own run time, not its wait in the queue). `generation` pins a
   * connection's calls to the worker it was opened in.
   */
  #request(message, generation) {
    const run = async () => {
      if (this.#closed) throw new HostError('closed', 'the host is closed');
      const ready = await this.#ready;
      if (generation !== undefined && generation !== ready.generation) {
        throw new HostError('connection-lost', 'this connection was lost when its instance was replaced (a deadline or a trap); open it again');
      }
      const id = this.#nextId++;
      return new Promise((resolvePending, rejectPending) => {
        const { callTimeoutMs } = this.#options;
        const timer = setTimeout(() => {
          // jco has no fuel or epochs: the only way to stop a running call is
          // to end its thread. Every connection of that worker goes with it.
          this.#pending.delete(id);
          rejectPending(new HostError('timeout', `the call passed its ${callTimeoutMs} ms deadline; its instance was replaced and the connections opened in it are gone`));
          this.#replace('call deadline');
        }, callTimeoutMs);
        this.#pending.set(id, { resolve: resolvePending, reject: rejectPending, timer });
        this.#worker.postMessage({ id, ...message });
      });
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => {});
    return result;
  }

  /**
   * Opens a connection (validates the config; sends nothing).
   * @param {object} config the WIT `connection-config`, jco-shaped
   * @param {{tenant?: string}} [options] the label audit records carry (default: the config's tenantId)
   */
  async open(config, { tenant = config.tenantId } = {}) {
    const { api, generation } = await this.#ready;
    const id = await this.#request({ op: 'open', config, tenant }, generation);
    const send = (message) => this.#request({ ...message, connection: id }, generation);
    return new Connection(send, api);
  }


  /** Stops the worker; pending and later calls reject with HostError 'closed'. */
  async close() {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = null;
    this.#failPending(new HostError('closed', 'the host is closed'));
    this.#flushInflight('host closed');
    await worker?.terminate();
  }
}
