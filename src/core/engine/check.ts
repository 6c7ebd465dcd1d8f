/**
 * The check stage, after a project's uploads: one fresh listing of the project at the destination
 * (read again, with pauses, until it lists every uploaded file or attempts run out), and every
 * uploaded file confirmed there with the bytes sent (see confirm.ts).
 */
import { errorMessage, isFatal, PyregError } from "../errors.js";
import type { DistFile, LocalDist } from "../model.js";
import type { PlanEntry } from "../plan.js";
import type { Pool } from "../pool.js";
import { confirm, type Confirmation } from "./confirm.js";
import { sleep, type RunContext } from "./types.js";

export interface Uploaded {
  entry: PlanEntry;
  local: LocalDist;
  seconds: number;
  via: "uploaded" | "exists";
  answer?: string | undefined;
}

export async function checkProject(
  ctx: RunContext,
  project: string,
  done: readonly Uploaded[],
  /** Reading files back shares the pool of transfers (the project's uploads hold no slot any more). */
  pool: Pool,
  content: boolean,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    ctx.destination.invalidate?.(project);
    let listing: Map<string, DistFile>;
    try {
      listing = await ctx.destination.listFiles(project);
    } catch (err) {
      if (attempt + 1 < ctx.verifyAttempts) {
        await sleep(ctx.verifyDelayMs * 2 ** attempt);
        continue;
      }
      for (const u of done) {
        ctx.record({
          kind: "failed",
          file: u.entry.file,
          reason: `uploaded, but the destination index could not be read to verify it: ${errorMessage(err)}`,
          code: "NOT_LISTED",
          class: "uncertain",
        });
      }
      return;
    }
    const missing = done.filter((u) => !listing.has(u.local.filename));
    if (missing.length && attempt + 1 < ctx.verifyAttempts) {
      await sleep(ctx.verifyDelayMs * 2 ** attempt);
      continue;
    }
    const listed = listing;
    await Promise.all(done.map((u) => pool.run(() => checkUploaded(ctx, u, listed, content))));
    return;
  }
}

async function checkUploaded(
  ctx: RunContext,
  u: Uploaded,
  listed: Map<string, DistFile>,
  content: boolean,
): Promise<void> {
  const file = u.entry.file;
  const there = listed.get(u.local.filename);
  if (!there) {
    ctx.record({
      kind: "failed",
      file,
      reason:
        u.via === "exists"
          ? `the destination answered "${u.answer ?? "exists"}" but its index does not list the file`
          : "uploaded, but the destination index does not list it",
      code: "NOT_LISTED",
      class: "uncertain",
      ...(u.answer ? { serverAnswer: u.answer } : {}),
    });
    return;
  }
  let r: Confirmation;
  try {
    r = await confirm(ctx.destination, u.local, there, content);
  } catch (err) {
    ctx.record({
      kind: "failed",
      file,
      reason: `uploaded and listed, but its bytes could not be read back to check them: ${errorMessage(err)}`,
      code: err instanceof PyregError && isFatal(err) ? err.code : "NOT_LISTED",
      class: "uncertain",
    });
    return;
  }
  if (!r.ok && r.by === "index") {
    ctx.record({
      kind: "conflict",
      file,
      reason: `the destination lists other bytes under this name (${r.digest} ${r.have})`,
      ...(r.digest === "sha256" ? { destinationSha256: r.have } : {}),
    });
  } else if (!r.ok) {
    ctx.record({
      kind: "failed",
      file,
      reason:
        `the destination lists ${file.filename}, but the bytes it serves have sha256 ${r.have}, ` +
        `not the ${u.local.sha256} sent: its index does not describe what it stores`,
      code: "CONTENT_MISMATCH",
      // What the destination stores is not known: every run looks again.
      class: "uncertain",
    });
  } else if (u.via === "exists") {
    ctx.record({
      kind: "skipped",
      file,
      reason: `already at the destination (it answered: ${u.answer ?? "exists"})`,
      verification: r.verification,
    });
  } else {
    ctx.record({
      kind: "copied",
      file,
      bytes: u.local.size,
      seconds: u.seconds,
      verification: r.verification,
    });
  }
}
