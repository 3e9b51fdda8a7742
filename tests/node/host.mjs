// The library under test, as a SOAR would get it: an installed copy of
// host-test/js (.npmrc install-links=true, since a symlinked package would
// resolve its own dependencies from host-test/js, where none are installed).
// A copy goes stale when host-test/js changes and `npm install` sees the same
// version: refuse to test a stale copy rather than test old code silently.

import { readFileSync, readdirSync } from 'node:fs';

const installed = new URL('./node_modules/sentinel-host/', import.meta.url);
const source = new URL('../../host-test/js/', import.meta.url);
for (const file of readdirSync(source).filter((name) => /\.(js|d\.ts)$/.test(name))) {
  if (!readFileSync(new URL(file, installed)).equals(readFileSync(new URL(file, source)))) {
    throw new Error(`tests/node/node_modules/sentinel-host/${file} is an older copy of host-test/js: run npm ci --prefix tests/node`);
  }
}

export * from 'sentinel-host';
