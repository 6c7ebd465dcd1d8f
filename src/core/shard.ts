/**
 * Sharding: `--shard K/N` gives each of N machines the projects whose stable hash falls in
 * its bucket. The hash is the first 32 bits of sha256 over the PEP 503 normalized project name, so
 * every machine, every pyreg version and every run agree on who owns which project, and all files of
 * one project stay on one shard (its destination index is read and verified by one machine only).
 */
import { createHash } from "node:crypto";
import { PyregError } from "./errors.js";
import { normalizeName } from "./names.js";

export interface Shard {
  /** 1-based. */
  index: number;
  count: number;
}

export const MAX_SHARDS = 10_000;

export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(index) || !Number.isSafeInteger(count)) {
    throw new PyregError("USAGE", `--shard takes K/N (e.g. 2/3), not "${text}"`, {
      hint: "K is this machine's shard, counted from 1; N is how many machines share the migration",
    });
  }
  if (count < 1 || count > MAX_SHARDS || index < 1 || index > count) {
    throw new PyregError("USAGE", `--shard ${text}: K must be from 1 to N and N from 1 to ${MAX_SHARDS}`, {
      hint: "with a Kubernetes indexed job use --shard $((JOB_COMPLETION_INDEX+1))/N",
    });
  }
  return { index, count };
}

export function formatShard(s: Shard): string {
  return `${s.index}/${s.count}`;
}

/** The 1-based shard a project belongs to among `count`. */
export function shardOf(project: string, count: number): number {
  const digest = createHash("sha256").update(normalizeName(project), "utf8").digest();
  return (digest.readUInt32BE(0) % count) + 1;
}

/** A PlanOptions.select predicate for one shard. */
export function shardSelector(s: Shard): (project: string) => boolean {
  return (project) => shardOf(project, s.count) === s.index;
}
