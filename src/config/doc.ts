import { type AnyKeySpec, KEY_LIST } from './keys.js';

/**
 * docs/configuration.md's key tables, generated from the key table (keys.ts): each block sits
 * between `<!-- BEGIN config-keys:<id> … -->` and `<!-- END config-keys:<id> -->` and is
 * rewritten by `npm run docs:config`. Every key belongs to exactly one block.
 */
export interface DocBlock {
  readonly id: string;
  readonly keys: (spec: AnyKeySpec) => boolean;
}

export const DOC_BLOCKS: readonly DocBlock[] = [
  { id: 'cluster', keys: (s) => s.section === 'cluster' && !s.lifeboatOnly },
  { id: 'cluster-additions', keys: (s) => s.section === 'cluster' && s.lifeboatOnly === true },
  { id: 'encryption', keys: (s) => s.section === 'encryption' },
  { id: 'pitr', keys: (s) => s.section === 'pitr' },
];

export const DOC_FILE = 'docs/configuration.md';
export const DOC_SCRIPT = 'npm run docs:config';

const HEADER = ['TOML key', 'environment', 'default', 'valid values and meaning'] as const;

const code = (text: string) => `\`${text}\``;

/** The default column: the value, or what leaving the key unset means. */
export function docDefault(spec: AnyKeySpec): string {
  if (spec.unset !== undefined) return spec.unset;
  if (spec.requiredWithS3) return `required with ${code('s3_url')}`;
  if (spec.default === undefined) return 'not set';
  return code(Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default));
}

/** The cells of one key's row: TOML key (— for environment-only keys), environment, default, meaning. */
export function docRow(spec: AnyKeySpec): readonly string[] {
  return [spec.envOnly ? '—' : code(spec.toml), code(spec.env), docDefault(spec), spec.doc];
}

/** A Markdown table padded as Biome formats it (`biome ci` checks docs/ too), so the two never disagree. */
function table(rows: readonly (readonly string[])[]): string {
  const cells = rows.map((row) => row.map((cell) => cell.replaceAll('|', '\\|')));
  const widths = HEADER.map((_, i) => Math.max(3, ...cells.map((row) => row[i]!.length)));
  const line = (row: readonly string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(cells[0]!), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}

export function renderBlock(block: DocBlock): string {
  return table([HEADER, ...KEY_LIST.filter(block.keys).map(docRow)]);
}

const begin = (id: string) => `<!-- BEGIN config-keys:${id} (generated from src/config/keys.ts: ${DOC_SCRIPT}) -->`;
const end = (id: string) => `<!-- END config-keys:${id} -->`;

/** The doc with every block rewritten from the key table; throws when a block's markers are missing. */
export function renderConfigDoc(markdown: string): string {
  let text = markdown;
  for (const block of DOC_BLOCKS) {
    const from = text.indexOf(begin(block.id));
    const to = text.indexOf(end(block.id));
    if (from < 0 || to < from) {
      throw new Error(
        `${DOC_FILE}: the markers of the "${block.id}" key table are missing; add the lines\n` +
          `${begin(block.id)}\n${end(block.id)}\nwhere the table belongs, then run ${DOC_SCRIPT}`,
      );
    }
    text = `${text.slice(0, from)}${begin(block.id)}\n\n${renderBlock(block)}\n\n${text.slice(to)}`;
  }
  return text;
}
