/**
 * The re-run figures of `npm run bench` (section "rerun"): the many-small-files run's `pyreg
 * migrate` (bench/smallFiles.ts; 100,000 files from a `pyreg serve` source into an empty `pyreg
 * serve` destination, with a state folder) is the first run; the same command is then run again,
 * in the same folder, over the unchanged source and destination. Both registries run in their
 * own process and count the requests they answer, by method and status (serveChild.ts prints the
 * counts on SIGUSR2): the figures are the servers', not pyreg's own.
 */

/** What a run of pyreg gave (run.ts's Measured). */
export interface RerunMeasure {
  code: number | null;
  seconds: number;
  peakRssMiB: number | undefined;
  cpuSeconds: number | undefined;
  stdout: string;
  stderr: string;
}

export interface RerunRow {
  run: "first" | "re-run";
  exit: number | null;
  seconds: number;
  cpuSeconds: number | undefined;
  peakRssMiB: number | undefined;
  copied: number;
  unchangedProjects: number;
  unchangedFiles: number;
  /** Requests each registry answered during the run: "GET 304" → count. */
  sourceRequests: Record<string, number>;
  destinationRequests: Record<string, number>;
}

export interface RerunResult {
  files: number;
  rows: RerunRow[];
  /** The re-run's wall time over the first run's. */
  ratio: number;
  /** The re-run's CPU time over the first run's. */
  cpuRatio: number | undefined;
}

/** The issue's target: a re-run over an unchanged source in under 10 % of the first run's time. */
export const RERUN_TARGET = 0.1;

/** Requests counted between two readings of a server's counts. */
export function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

export function totalRequests(r: Record<string, number>): number {
  return Object.values(r).reduce((a, b) => a + b, 0);
}

export function formatRequests(r: Record<string, number>): string {
  const parts = Object.entries(r)
    .sort(([, a], [, b]) => b - a)
    .map(([k, v]) => `${v} ${k}`);
  return `${totalRequests(r)}${parts.length ? ` (${parts.join(", ")})` : ""}`;
}

/** One run's row: its measure, what pyreg's --json says it did, and the requests the servers counted. */
export function rerunRow(
  run: RerunRow["run"],
  m: RerunMeasure,
  sourceRequests: Record<string, number>,
  destinationRequests: Record<string, number>,
  log: (m: string) => void,
): RerunRow {
  let copied = 0;
  let unchanged = { projects: 0, files: 0 };
  try {
    const j = JSON.parse(m.stdout) as {
      counts: { copied: number };
      unchanged?: { projects: number; files: number };
    };
    copied = j.counts.copied;
    unchanged = j.unchanged ?? unchanged;
  } catch {
    log(`rerun: pyreg printed no JSON (exit ${m.code}): ${m.stderr.slice(-2000)}`);
  }
  log(
    `rerun: ${run}: ${m.seconds.toFixed(2)} s, exit ${m.code}, ${copied} copied, ${unchanged.projects} projects unchanged; ` +
      `source ${formatRequests(sourceRequests)}; destination ${formatRequests(destinationRequests)}`,
  );
  return {
    run,
    exit: m.code,
    seconds: m.seconds,
    cpuSeconds: m.cpuSeconds,
    peakRssMiB: m.peakRssMiB,
    copied,
    unchangedProjects: unchanged.projects,
    unchangedFiles: unchanged.files,
    sourceRequests,
    destinationRequests,
  };
}

export function rerunResult(files: number, first: RerunRow, again: RerunRow): RerunResult {
  return {
    files,
    rows: [first, again],
    ratio: again.seconds / first.seconds,
    cpuRatio:
      first.cpuSeconds && again.cpuSeconds !== undefined ? again.cpuSeconds / first.cpuSeconds : undefined,
  };
}
