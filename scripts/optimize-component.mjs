#!/usr/bin/env node
// Shrinks the connector component for release: runs binaryen's wasm-opt (the
// npm `binaryen` package pinned in package.json, installed by scripts/setup)
// on the component's main core module, splices the result back, and drops
// every custom section (component and core names, producers): none is read at
// run time. host-test/build.rs and scripts/component-hash both run this file,
// so the embedded component and the published hash are the same bytes.
//
//   node scripts/optimize-component.mjs IN.wasm OUT.wasm
//
// The optimized core module is cached under OUT's folder (wasm-opt/), named
// by the SHA-256 of its input, binaryen's version and the flags, so rebuilding
// an unchanged component costs no second wasm-opt run. wasm-opt is
// deterministic: the same input gives the same bytes.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

// Features: exactly what rustc's wasm32-wasip2 output uses (memory.copy and
// memory.fill, sign extension), so wasm-opt emits nothing a host must newly
// support. No option that assumes something of the program (-tnh, -iit, ...):
// traps stay traps. merge-similar-functions first (before -Oz) merges the
// many near-identical lifting and lowering functions; -Oz cleans up after it.
const FLAGS = ["--enable-bulk-memory", "--enable-sign-ext", "--merge-similar-functions", "-Oz"];

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const binaryen = path.join(root, "node_modules", "binaryen");

function fail(message) {
  console.error(`optimize-component: ${message}`);
  process.exit(1);
}

function readLeb(bytes, at) {
  let value = 0;
  for (let shift = 0; ; shift += 7) {
    const byte = bytes[at++];
    if (byte === undefined || shift > 28) fail("malformed LEB128 in a section header");
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, at];
  }
}

function leb(value) {
  const out = [];
  do {
    const byte = value & 0x7f;
    value = Math.floor(value / 128);
    out.push(value ? byte | 0x80 : byte);
  } while (value);
  return Buffer.from(out);
}

// A module or component: 8 header bytes, then sections of `id, LEB128 size,
// payload`. Byte 6 (the layer) is 1 for a component, 0 for a core module.
function sections(bytes) {
  if (bytes.length < 8 || bytes.readUInt32LE(0) !== 0x6d736100) fail("not a wasm binary");
  const list = [];
  for (let at = 8; at < bytes.length; ) {
    const [size, start] = readLeb(bytes, at + 1);
    if (start + size > bytes.length) fail("a section runs past the end");
    list.push({ id: bytes[at], payload: bytes.subarray(start, start + size) });
    at = start + size;
  }
  return list;
}

// Rebuilds a binary without custom sections (id 0), recursing into nested
// core modules (id 1 in a component) and components (id 4); `replace` maps a
// nested module's payload to new bytes.
function rebuild(bytes, replace = () => null) {
  const component = bytes[6] === 1;
  const parts = [bytes.subarray(0, 8)];
  for (const { id, payload } of sections(bytes)) {
    if (id === 0) continue;
    let body = payload;
    if (component && id === 1) body = replace(payload) ?? rebuild(payload);
    else if (component && id === 4) body = rebuild(payload, replace);
    parts.push(Buffer.from([id]), leb(body.length), body);
  }
  return Buffer.concat(parts);
}

function wasmOpt(module, cacheDir) {
  const version = JSON.parse(fs.readFileSync(path.join(binaryen, "package.json"), "utf8")).version;
  const key = createHash("sha256").update(`binaryen ${version}\n${FLAGS.join(" ")}\n`).update(module).digest("hex");
  const cached = path.join(cacheDir, `${key}.wasm`);
  try {
    const hit = fs.readFileSync(cached);
    fs.utimesSync(cached, new Date(), new Date());
    return hit;
  } catch {}
  fs.mkdirSync(cacheDir, { recursive: true });
  const input = path.join(cacheDir, `in-${process.pid}.wasm`);
  const output = path.join(cacheDir, `out-${process.pid}.wasm`);
  fs.writeFileSync(input, module);
  const run = spawnSync(process.execPath, [path.join(binaryen, "bin", "wasm-opt"), ...FLAGS, input, "-o", output], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  fs.rmSync(input, { force: true });
  if (run.status !== 0) fail(`wasm-opt ${FLAGS.join(" ")} failed (${run.error ?? `exit ${run.status}`})`);
  const optimized = fs.readFileSync(output);
  // Entries unused for a week go (and what an interrupted run left).
  for (const name of fs.readdirSync(cacheDir)) {
    const file = path.join(cacheDir, name);
    if (Date.now() - fs.statSync(file).mtimeMs > 7 * 24 * 3600 * 1000) fs.rmSync(file, { force: true });
  }
  fs.renameSync(output, cached);
  return optimized;
}

const [input, output] = process.argv.slice(2);
if (!input || !output) fail("usage: node scripts/optimize-component.mjs IN.wasm OUT.wasm");
if (!fs.existsSync(path.join(binaryen, "bin", "wasm-opt"))) fail("node_modules/binaryen is missing: run scripts/setup");
const component = fs.readFileSync(input);
if (component[6] !== 1) fail(`${input} is not a component`);
// The main module is the component's largest core module (the others are
// wit-component's few-hundred-byte shims for indirect calls).
const main = sections(component)
  .filter(({ id }) => id === 1)
  .reduce((a, b) => (b.payload.length > a.payload.length ? b : a)).payload;
const isMain = (payload) => payload.buffer === main.buffer && payload.byteOffset === main.byteOffset;
const result = rebuild(component, (payload) =>
  isMain(payload) ? rebuild(wasmOpt(payload, path.join(path.dirname(output), "wasm-opt"))) : null,
);
const temporary = `${output}.${process.pid}.tmp`;
fs.writeFileSync(temporary, result);
fs.renameSync(temporary, output);
