// Rewrites the key tables in docs/configuration.md from src/config/keys.ts (`npm run docs:config`).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DOC_FILE, renderConfigDoc } from '../src/config/doc.js';

const path = fileURLToPath(new URL(`../${DOC_FILE}`, import.meta.url));
const before = readFileSync(path, 'utf8');
const after = renderConfigDoc(before);
if (after === before) {
  process.stdout.write(`${DOC_FILE} is up to date\n`);
} else {
  writeFileSync(path, after);
  process.stdout.write(`${DOC_FILE}: key tables rewritten from src/config/keys.ts\n`);
}
