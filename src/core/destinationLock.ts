/**
 * One migration per destination on a machine, whatever state folder each run uses. Two runs to one
 * destination from two state folders would each decide from their own journal, read the same index
 * before either uploads, and both send every file. So `migrate` also takes a lock named after the
 * destination's identity (its URL without credentials, or its absolute folder path), in a per-user
 * folder: `$PYREG_LOCK_DIR`, else `$XDG_RUNTIME_DIR/pyreg`, else `~/.cache/pyreg/locks`.
 *
 * A run without --shard takes it exclusively; a run with --shard K/N takes it shared, plus an
 * exclusive lock of its own shard, so shards of one split run side by side and nothing else does.
 */
import { createHash } from "node:crypto";
import { homedir } from "node:os";
import { join } from "node:path";
import { makeDirSync } from "./dirs.js";
import { PyregError } from "./errors.js";
import { FileLock } from "./lock.js";
import type { Shard } from "./shard.js";

export function lockDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env["PYREG_LOCK_DIR"]) return env["PYREG_LOCK_DIR"];
  if (env["XDG_RUNTIME_DIR"]) return join(env["XDG_RUNTIME_DIR"], "pyreg");
  return join(env["HOME"] || homedir(), ".cache", "pyreg", "locks");
}

export interface DestinationLock {
  release(): void;
}

export function lockDestination(
  destination: { key: string; description: string },
  shard: Shard | undefined,
  stateDir: string,
  env: NodeJS.ProcessEnv = process.env,
): DestinationLock {
  const dir = makeDirSync(lockDir(env), "the lock folder", "STATE", 0o700);
  const base = join(dir, createHash("sha256").update(destination.key).digest("hex").slice(0, 32));
  const what = `state folder ${stateDir}`;
  const refuse = (path: string, whose: string): never => {
    const h = FileLock.holder(path);
    const by = h ? ` (pid ${h.pid}${h.what ? `, ${h.what}` : ""})` : "";
    throw new PyregError(
      "STATE",
      `another pyreg is migrating ${whose} ${destination.description}${by}: two runs to one destination would both send the same files`,
      {
        hint:
          "wait for it to finish and run this again (it resumes from its state folder), or split the work " +
          "between runs with --shard K/N in each (lock folder: " +
          dir +
          ")",
      },
    );
  };
  const whole = FileLock.take(`${base}.lock`, shard ? "shared" : "exclusive", what);
  if (!whole) return refuse(`${base}.lock`, "to");
  if (!shard) return whole;
  const own = `${base}-shard-${shard.index}-of-${shard.count}.lock`;
  const mine = FileLock.take(own, "exclusive", what);
  if (!mine) {
    whole.release();
    return refuse(own, `shard ${shard.index}/${shard.count} to`);
  }
  return {
    release() {
      mine.release();
      whole.release();
    },
  };
}
