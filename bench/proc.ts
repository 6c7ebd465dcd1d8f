/** What the benchmark reads about processes and the machine: CPU time, load average, the commit. */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";

/**
 * User and system CPU seconds a process has used so far: utime and stime of /proc/PID/stat
 * (proc(5)), in clock ticks of 1/100 s (USER_HZ on Linux). NaN once the process is gone.
 */
export function cpuPartsOf(pid: number | undefined): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
  } catch {
    return { user: NaN, system: NaN };
  }
}

/** CPU seconds a process has used so far (user + system, see cpuPartsOf). */
export function cpuOf(pid: number | undefined): number {
  const { user, system } = cpuPartsOf(pid);
  return user + system;
}

/** The 1-minute load average, two decimals. */
export function load1(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
}

/** The commit of the checkout holding `dir` (short hash, "+dirty" with uncommitted changes), or "unknown". */
export function commitOf(dir: string): string {
  const rev = spawnSync("git", ["-C", dir, "rev-parse", "--short", "HEAD"], { encoding: "utf8" });
  if (rev.status !== 0) return "unknown";
  const dirty = spawnSync("git", ["-C", dir, "status", "--porcelain", "--untracked-files=no"], {
    encoding: "utf8",
  });
  return `${rev.stdout.trim()}${dirty.stdout.trim() ? "+dirty" : ""}`;
}

/**
 * CPU seconds of this process and of its children it has waited for (utime, stime, cutime and
 * cstime of /proc/self/stat; a child's figure includes its own waited-for children, so the
 * measured commands under /usr/bin/time count too).
 */
export function treeCpu(): number {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return NaN;
  }
}
