import { compare, valid } from "@renovatebot/pep440";

/** Sorts PEP 440 versions with a real implementation; invalid versions sort after, as strings. */
export function compareVersions(a: string, b: string): number {
  const va = valid(a);
  const vb = valid(b);
  if (va && vb) return compare(a, b);
  if (va) return -1;
  if (vb) return 1;
  return a.localeCompare(b);
}

/**
 * Distinct versions in the order `cmp` gives, in runs of those it holds equal ("1.0" and "1.0.0"
 * are one PEP 440 version). After the sort the spellings of one version are neighbours, so each is
 * compared with the one before it only: a PEP 440 comparison parses both of its versions, and
 * comparing every version with every other was most of the CPU of pages and selections with many
 * versions. The sort is stable: spellings of one version keep the order they were given in.
 */
export function versionRuns(versions: Iterable<string>, cmp: (a: string, b: string) => number): string[][] {
  const sorted = [...new Set(versions)].sort(cmp);
  const runs: string[][] = [];
  let run: string[] | undefined;
  for (const v of sorted) {
    if (run && cmp(run[run.length - 1] as string, v) === 0) run.push(v);
    else runs.push((run = [v]));
  }
  return runs;
}
