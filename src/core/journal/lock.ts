/** The state folder's lock: one pyreg at a time per state folder. */
import { hostname } from "node:os";
import { PyregError } from "../errors.js";
import { FileLock } from "../lock.js";

/**
 * One process at a time per state folder: an exclusive SQLite lock on `lock.sqlite`, held for the
 * whole run and released by the operating system when the process ends in any way (see lock.ts),
 * so there is no stale lock to take over and no window in which two runs both win.
 */
export function takeLock(lockPath: string, dir: string): FileLock {
  const lock = FileLock.take(lockPath, "exclusive", `the state folder ${dir}`);
  if (lock) return lock;
  const holder = FileLock.holder(lockPath);
  const who = holder
    ? holder.host === hostname()
      ? ` (pid ${holder.pid})`
      : ` (pid ${holder.pid} on host ${holder.host})`
    : "";
  throw new PyregError("STATE", `the state folder ${dir} is in use by another pyreg${who}`, {
    hint: "wait for it to finish, or give this run its own --state DIR",
  });
}
