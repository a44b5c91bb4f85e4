import type { ChildReply, ChildRequest } from '../child.js';
import type { ChildRuntime } from './build.js';
import { measureCommand, processCpuS } from './util.js';

export interface ChildResult extends ChildReply {
  /** Wall time of the whole process (start-up included), from GNU time's parent. */
  readonly processMs: number;
  /** Peak RSS of the process, bytes. */
  readonly maxRss: number;
  /** CPU seconds of the process. */
  readonly cpuS: number;
  /** CPU seconds the S3 server's daemons (radosgw + OSD) used meanwhile, when given. */
  readonly serverCpuS: number;
}

/** Profiles written so far: their names must differ. */
let profiles = 0;

/**
 * Runs one operation of bench/child.ts in its own process under GNU time; with `cpus`
 * (a taskset list such as "0"), only on those cores. LIFEBOAT_BENCH_CPU_PROF=<dir> writes a
 * CPU profile of each child there, named by its operation (where its time goes).
 */
export async function runChild(
  runtime: ChildRuntime,
  request: ChildRequest,
  serverPids: readonly number[] = [],
  cpus?: string,
): Promise<ChildResult> {
  const cpu0 = serverPids.map(processCpuS);
  const profile = process.env.LIFEBOAT_BENCH_CPU_PROF;
  const args = [
    ...(profile
      ? ['--cpu-prof', '--cpu-prof-dir', profile, '--cpu-prof-name', `${request.op}-${++profiles}.cpuprofile`]
      : []),
    ...runtime.childArgs,
    JSON.stringify(request),
  ];
  const m =
    cpus === undefined
      ? await measureCommand(process.execPath, args)
      : await measureCommand('taskset', ['-c', cpus, process.execPath, ...args]);
  const serverCpuS = serverPids.reduce((sum, pid, i) => sum + (processCpuS(pid) - cpu0[i]!), 0);
  const line = m.stdout.trim().split('\n').pop() ?? '';
  let reply: ChildReply;
  try {
    reply = JSON.parse(line) as ChildReply;
  } catch {
    throw new Error(`child ${request.op} printed no result: ${m.stdout.slice(-500)}`);
  }
  return { ...reply, processMs: m.ms, maxRss: m.maxRss, cpuS: m.cpuS, serverCpuS };
}
