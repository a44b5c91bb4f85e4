import type { Command } from 'commander';
import type { Composition } from '../../compose.js';
import { durationMs } from '../../config/load.js';
import { ConfigError, EXIT_CHECK_FAILED, EXIT_NO_BACKUPS } from '../../errors.js';
import { formatSize } from '../../fs/space.js';
import { type DatabaseReport, databaseIds, type GenerationReport, inspectDatabase } from '../../pitr/inspect.js';
import { genIdsWithMeta } from '../../pitr/meta-object.js';
import { dbPrefix, isId, PITR_ROOT } from '../../pitr/names.js';
import { type GenerationLink, readLinks } from '../../pitr/restore/lineage.js';
import { iso, type RestorableRange } from '../../pitr/restore/plan.js';
import { pitrDatabase } from '../../restore/fetch.js';
import type { ListedObject, PitrObjectStore } from '../../storage/object-store.js';
import { type ConfigFlag, formatAge, withConfigOption, withParts } from '../context.js';
import { action } from '../run.js';
import { ACCEPT_OLDER_HELP, runVerify, TIMELINE_HELP, type VerifyFlags } from './verify.js';

interface PitrFlags extends ConfigFlag {
  dbId?: string;
  json?: boolean;
  maxAge?: string;
}

const HELP_AFTER = `
status and list LIST the bucket and, with the keys configured, read each generation's small meta
(to tell a restore's new generation from a gap); no base or segment is downloaded: they show
what the names say (the planner of \`restore --pitr\` reads the same). Whether the objects
themselves restore — keys, checksums, the chain of digests — only a restore shows. The drill:

  lifeboat pitr verify [latest]          restore into a temp folder, integrity_check, count rows
  lifeboat pitr verify txid:<N>          the same for one transaction
  lifeboat pitr verify time:<RFC 3339>   (each the same as lifeboat verify pitr:<point>)
  (add --db-id <id> when the bucket holds several databases)

and to restore: lifeboat restore --pitr latest|txid:<N>|time:<RFC 3339> [--db-id <id>]; with
--timeline K (list shows each generation's), latest and a time on a branch an earlier restore left.`;

const STATUS_HELP_AFTER = `
Exit codes: 0 restorable (and, with --max-age, recent enough); 4 nothing of the database is
restorable (no continuous backup, or no base yet); 5 restorable, but the newest restorable
transaction is older than --max-age, or \`restore --pitr latest\` would be refused (transactions
were shipped beyond a hole); 1 the bucket could not be listed; 2 usage or configuration error.
For a cron check: lifeboat pitr status --max-age 5m || alert

LISTs the bucket and reads the generations' metas, nothing more; the drill that restores is
\`lifeboat verify pitr:latest\`.`;

/** `90s`, `5m`, `1.5h`, `2d`, `250ms`; a bare number is seconds (as the [pitr] durations of the configuration). */
export function parseMaxAge(text: string): number {
  const ms = durationMs(text);
  if (ms === undefined)
    throw new ConfigError([`--max-age "${text}" is not a duration: a number and a unit (s, m, h, d), e.g. 5m`]);
  return ms;
}

/** The continuous-backup bucket of the configuration, or why there is none. */
function storeOf(parts: Composition): PitrObjectStore {
  if (!parts.pitrStore) {
    throw new ConfigError([
      'continuous backup lives in S3, and no S3 store is configured; ' +
        'set cluster.s3_url (HQL_S3_URL) and the other s3_* keys',
    ]);
  }
  return parts.pitrStore();
}

/** The generations' links from their metas when the keys are configured (restore/lineage.ts); else none. */
async function linksOf(
  parts: Composition,
  store: PitrObjectStore,
  dbId: string,
  listed: readonly ListedObject[],
): Promise<ReadonlyMap<string, GenerationLink> | undefined> {
  const keys = parts.config.encryption;
  if (!keys) return undefined;
  return readLinks(store, keys, dbId, genIdsWithMeta(dbId, listed), { log: parts.logger });
}

function dbIdFlag(flags: PitrFlags): string | undefined {
  if (flags.dbId !== undefined && !isId(flags.dbId))
    throw new ConfigError([
      `--db-id "${flags.dbId}" is not 32 lower-case hex digits (as \`lifeboat pitr list\` shows)`,
    ]);
  return flags.dbId;
}

/** The S3 place for JSON output, as `lifeboat list --json` gives it. */
function remoteOf(parts: Composition): { endpoint: string; bucket: string; prefix: string } | null {
  const s3 = parts.config.s3;
  return s3 ? { endpoint: s3.url, bucket: s3.bucket, prefix: s3.prefix } : null;
}

const point = (p: { txid: number; ms: number }) => ({ txid: p.txid, observedAt: iso(p.ms) });
const genPoint = (p: { genId: string; txid: number; ms: number }) => ({ genId: p.genId, ...point(p) });
const rangeJson = (r: RestorableRange) => ({
  genId: r.genId,
  from: point({ txid: r.fromTxid, ms: r.fromMs }),
  to: point({ txid: r.toTxid, ms: r.toMs }),
});

function generationJson(g: GenerationReport) {
  return {
    genId: g.genId,
    createdAt: iso(g.createdMs),
    hasMeta: g.hasMeta,
    timeline: g.link?.timeline ?? null,
    parent: g.link?.parent ?? null,
    objects: g.objects,
    bytes: g.bytes,
    bases: g.bases.map((b) => ({ ...point(b), bytes: b.bytes })),
    segments: {
      count: g.segments.count,
      firstSeq: g.segments.firstSeq ?? null,
      lastSeq: g.segments.lastSeq ?? null,
      bytes: g.segments.bytes,
    },
    first: g.first ? point(g.first) : null,
    last: g.last ? point(g.last) : null,
    holes: g.holes.map((h) => ({
      fromSeq: h.fromSeq,
      toSeq: h.toSeq,
      before: h.before ? { seq: h.before.seq, ...point(h.before) } : null,
      after: { seq: h.after.seq, ...point(h.after) },
    })),
    ranges: g.ranges.map(rangeJson),
  };
}

/** One database in `pitr list --json` (docs/json-output.md). */
export type DatabaseJson = ReturnType<typeof databaseJson>;
/** `pitr list --json`. */
export interface PitrListJson {
  readonly remote: ReturnType<typeof remoteOf>;
  readonly databases: readonly DatabaseJson[];
}
/** `pitr status --json`. */
export type PitrStatusJson = ReturnType<typeof statusJson>;

function databaseJson(d: DatabaseReport) {
  return {
    dbId: d.dbId,
    objects: d.objects,
    bytes: d.bytes,
    oldest: d.oldest ? genPoint(d.oldest) : null,
    newest: d.newest ? genPoint(d.newest) : null,
    newestShipped: d.newestShipped ? point(d.newestShipped) : null,
    latest: d.latest ? genPoint(d.latest) : null,
    latestRefused: d.latestRefused ?? null,
    windows: d.windows.map(rangeJson),
    gaps: d.gaps.map(gapJson),
    ranges: d.ranges.map(rangeJson),
    generations: d.generations.map(generationJson),
  };
}

function statusJson(
  parts: Composition,
  dbId: string,
  report: DatabaseReport,
  problems: readonly string[],
  maxAgeMs: number | undefined,
  now: Date,
) {
  const age = (p: { ms: number }) => Math.floor((now.getTime() - p.ms) / 1000);
  return {
    remote: remoteOf(parts),
    dbId,
    ok: problems.length === 0,
    problems,
    maxAgeSeconds: maxAgeMs === undefined ? null : maxAgeMs / 1000,
    newest: report.newest ? { ...genPoint(report.newest), ageSeconds: age(report.newest) } : null,
    oldest: report.oldest ? { ...genPoint(report.oldest), ageSeconds: age(report.oldest) } : null,
    newestShipped: report.newestShipped ? point(report.newestShipped) : null,
    latest: report.latest ? genPoint(report.latest) : null,
    windows: report.windows.map(rangeJson),
    gaps: report.gaps.map(gapJson),
  };
}

const at = (p: { txid: number; ms: number }) => `txid ${p.txid} (${iso(p.ms)})`;

function gapJson(g: DatabaseReport['gaps'][number]) {
  return {
    kind: g.kind,
    from: genPoint(g.from),
    to: genPoint(g.to),
    ...(g.branchedFrom ? { branchedFrom: g.branchedFrom } : {}),
    ...(g.branchTimeline ? { branchTimeline: g.branchTimeline } : {}),
  };
}

function gapLine(g: DatabaseReport['gaps'][number]): string {
  const why =
    g.kind === 'hole'
      ? `segments are missing in generation ${g.to.genId}`
      : g.kind === 'restore'
        ? `generation ${g.to.genId} begins from a restore to txid ${g.branchedFrom?.txid} of generation ` +
          `${g.branchedFrom?.genId}: a time in between restores that point; the later commits there are ` +
          `another branch, restorable by txid${g.branchTimeline ? ` or with --timeline ${g.branchTimeline}` : ''}`
        : `generation ${g.to.genId} begins: what was committed in between is in its base, not restorable one by one`;
  return `after ${at(g.from)} until ${at(g.to)}: ${why}`;
}

function timelineLine(link: GenerationLink): string {
  const { parent } = link;
  return parent
    ? `${link.timeline}, from a restore to txid ${parent.txid} of generation ${parent.genId}`
    : `${link.timeline}`;
}

function holeLine(h: GenerationReport['holes'][number]): string {
  const seqs = h.fromSeq === h.toSeq ? `seq ${h.fromSeq}` : `seq ${h.fromSeq}–${h.toSeq}`;
  const before = h.before ? `seq ${h.before.seq} ends at ${at(h.before)}, ` : 'the generation starts without them, ';
  return `${seqs} missing: ${before}seq ${h.after.seq} ends at ${at(h.after)}`;
}

/** The text form of `pitr list` for one database. */
export function formatDatabase(d: DatabaseReport): string {
  const lines = [`database ${d.dbId}  ${d.objects} objects, ${formatSize(d.bytes)}`];
  if (d.generations.length === 0) lines.push('  nothing under this database id');
  for (const [i, g] of d.generations.entries()) {
    lines.push(`  generation ${g.genId}  created ${iso(g.createdMs)}, ${g.objects} objects, ${formatSize(g.bytes)}`);
    if (!g.hasMeta) lines.push('    meta        missing');
    if (g.link) lines.push(`    timeline    ${timelineLine(g.link)}`);
    // The newest may still be starting; an older one without a base is what a retention that was
    // interrupted leaves (its meta goes last), or a capture that died while it started.
    if (g.bases.length === 0) {
      const when = i === d.generations.length - 1 ? 'none yet' : 'none';
      lines.push(`    base        ${when}: nothing of this generation is restorable`);
    }
    for (const b of g.bases) lines.push(`    base        ${at(b)}, ${formatSize(b.bytes)}`);
    const s = g.segments;
    lines.push(
      s.count === 0
        ? '    segments    none'
        : `    segments    ${s.count} (seq ${s.firstSeq}–${s.lastSeq}), ${formatSize(s.bytes)}`,
    );
    if (g.first && g.last) lines.push(`    txids       ${at(g.first)} … ${at(g.last)}`);
    for (const h of g.holes) lines.push(`    hole        ${holeLine(h)}`);
    for (const r of g.ranges)
      lines.push(`    restorable  ${at({ txid: r.fromTxid, ms: r.fromMs })} … ${at({ txid: r.toTxid, ms: r.toMs })}`);
  }
  for (const gap of d.gaps) lines.push(`  gap         ${gapLine(gap)}`);
  if (d.latest) lines.push(`  latest      ${at(d.latest)} in generation ${d.latest.genId}`);
  if (d.latestRefused) lines.push(`  latest      refused (${d.latestRefused.code}): ${d.latestRefused.message}`);
  return lines.join('\n');
}

/** The drill for this database: `latest` when the planner takes it, else the newest restorable txid. */
function drillOf(report: DatabaseReport, dbIdGiven: string | undefined): string {
  const point = report.latest || !report.newest ? 'latest' : `txid:${report.newest.txid}`;
  return `lifeboat verify pitr:${point}${dbIdGiven ? ` --db-id ${dbIdGiven}` : ''}`;
}

/** One LIST: of the database's prefix, or of every database's when no id is given. */
async function listing(store: PitrObjectStore, dbId: string | undefined): Promise<readonly ListedObject[]> {
  return store.list(dbId === undefined ? PITR_ROOT : dbPrefix(dbId));
}

/** `lifeboat pitr status|list|verify`: what continuous backup has put in the bucket, and whether it restores. */
export function registerPitr(program: Command): void {
  const pitr = program
    .command('pitr')
    .description('continuous backup in the bucket: what is restorable (only LISTs, downloads nothing)')
    .addHelpText('after', HELP_AFTER);

  withConfigOption(pitr.command('status'))
    .description('the restorable window in one screen: newest and oldest restorable transaction, gaps; a cron check')
    .option('--db-id <id>', 'the database (default: this database by its identity, else the only one in the bucket)')
    .option('--max-age <duration>', 'exit 5 when the newest restorable transaction is older (e.g. 90s, 5m, 1h)')
    .option('--json', 'print JSON (docs/json-output.md)')
    .addHelpText('after', STATUS_HELP_AFTER)
    .action(
      action((flags: PitrFlags) => {
        const wanted = dbIdFlag(flags);
        const maxAgeMs = flags.maxAge === undefined ? undefined : parseMaxAge(flags.maxAge);
        return withParts(flags, async (parts) => {
          const store = storeOf(parts);
          // The database as restore --pitr finds it, so that status speaks of the one a restore would use.
          const dbId = wanted ?? (await pitrDatabase(store, { dbFile: parts.dbFile, remote: parts.remote?.store }));
          const listed = await listing(store, dbId);
          const report = inspectDatabase(dbId, listed, await linksOf(parts, store, dbId, listed));
          const now = parts.clock.now();
          const ageMs = report.newest ? now.getTime() - report.newest.ms : undefined;
          const ago = (p: { ms: number }) => formatAge(new Date(p.ms), now);
          const problems: string[] = [];
          if (!report.newest) {
            problems.push(
              report.objects === 0
                ? `there is no continuous backup of database ${dbId} in ${store.description}`
                : `database ${dbId} has no base yet, so nothing of it is restorable`,
            );
          } else {
            if (maxAgeMs !== undefined && ageMs! > maxAgeMs) {
              problems.push(
                `the newest restorable transaction, ${at(report.newest)}, is ${ago(report.newest)} old: ` +
                  `older than --max-age ${flags.maxAge}`,
              );
            }
            if (report.latestRefused)
              problems.push(`restore --pitr latest is refused: ${report.latestRefused.message}`);
          }
          const code = !report.newest ? EXIT_NO_BACKUPS : problems.length ? EXIT_CHECK_FAILED : 0;
          if (flags.json) {
            const output = statusJson(parts, dbId, report, problems, maxAgeMs, now);
            process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
            return code;
          }
          const lines = [`database  ${dbId} in ${store.description}`];
          if (report.newest && report.oldest) {
            lines.push(
              `newest    ${at(report.newest)}, ${ago(report.newest)} ago, generation ${report.newest.genId}`,
              `oldest    ${at(report.oldest)}, ${ago(report.oldest)} ago, generation ${report.oldest.genId}`,
            );
            const span = report.newest.ms - report.oldest.ms;
            const gaps = report.gaps.length;
            lines.push(
              `window    ${formatAge(new Date(0), new Date(span))} of history, ${report.windows.length} restorable ` +
                `${report.windows.length === 1 ? 'range' : 'ranges'}, ${gaps} ${gaps === 1 ? 'gap' : 'gaps'}`,
            );
            for (const g of report.gaps) lines.push(`gap       ${gapLine(g)}`);
            if (report.newestShipped && report.newestShipped.txid > report.newest.txid)
              lines.push(`shipped   up to ${at(report.newestShipped)}, beyond the newest restorable transaction`);
          }
          lines.push(
            problems.length === 0
              ? 'status    ok'
              : `status    ${problems.map((p) => `PROBLEM: ${p}`).join('\n          ')}`,
            `drill     ${drillOf(report, wanted)} (restores into a temp folder; this command downloads nothing)`,
          );
          process.stdout.write(`${lines.join('\n')}\n`);
          return code;
        });
      }),
    );

  withConfigOption(pitr.command('list'))
    .description('every database id, its generations (bases, segments, holes) and the restorable ranges')
    .option('--db-id <id>', 'only this database (default: every database under the prefix)')
    .option('--json', 'print JSON (docs/json-output.md)')
    .action(
      action((flags: PitrFlags) => {
        const wanted = dbIdFlag(flags);
        return withParts(flags, async (parts) => {
          const store = storeOf(parts);
          const listed = await listing(store, wanted);
          const ids = wanted === undefined ? databaseIds(listed) : [wanted];
          const reports = await Promise.all(
            ids.map(async (id) => inspectDatabase(id, listed, await linksOf(parts, store, id, listed))),
          );
          if (flags.json) {
            const output: PitrListJson = { remote: remoteOf(parts), databases: reports.map(databaseJson) };
            process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
            return;
          }
          const head = `# ${store.description}`;
          if (reports.length === 0) {
            process.stdout.write(`${head}\nno continuous backup (${PITR_ROOT}…) here\n`);
            return;
          }
          process.stdout.write(`${[head, ...reports.map(formatDatabase)].join('\n')}\n`);
        });
      }),
    );

  withConfigOption(pitr.command('verify'))
    .description(
      'restore drill of a point: restore it into a temp folder, integrity_check, count rows; changes nothing',
    )
    .argument('[point]', 'latest | txid:<N> | time:<RFC 3339 time>', 'latest')
    .option('--db-id <id>', 'the database (default: this database by its identity, else the only one in the bucket)')
    .option('--accept-older', ACCEPT_OLDER_HELP)
    .option('--timeline <K>', TIMELINE_HELP)
    .option('--json', 'print JSON (as `lifeboat verify --json`)')
    .option('--temp-dir <dir>', 'where the temporary copy goes (default: the system temp folder)')
    .addHelpText(
      'after',
      '\nThe same drill as `lifeboat verify pitr:<point>`; exit 0 good, 1 not, 4 nothing restorable.',
    )
    .action(action((point: string, flags: VerifyFlags) => runVerify(`pitr:${point}`, flags)));
}
