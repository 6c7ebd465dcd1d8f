/**
 * The upload stage: the file is sent with the form twine sends; an ambiguous failure (no answer,
 * a 5xx, 408, 429) is followed by a read of the destination index before anything is sent again,
 * so that a repeat can never store a file twice.
 */
import { compareDigests } from "../digests.js";
import { classOf, errorMessage, isFatal, PyregError } from "../errors.js";
import type { CoreMetadata, DistFile, FileOutcome, LocalDist } from "../model.js";
import { sha256Of } from "../model.js";
import { sleep, type BeforeUpload, type RunContext } from "./types.js";

/**
 * Sends of one upload. A send is repeated only after an ambiguous failure (no answer, 5xx, 408,
 * 429) AND a readable destination index that still does not list the file, so a repeat can never
 * store a file twice; three sends keep a file's failure chance small on a flaky network.
 */
const UPLOAD_SENDS = 3;

/**
 * Whether a failed upload may nevertheless have been stored (the connection dropped, no answer in
 * time, a server error) or may be sent again (429, 408): a transient failure. Any other answer
 * (4xx) refused the file, and sending it again would get the same answer.
 */
function isAmbiguousUploadError(err: unknown): boolean {
  return classOf(err) === "transient";
}

/** Reads the destination again (until it lists the file or attempts run out). */
export async function lookAgain(
  ctx: RunContext,
  project: string,
  filename: string,
  wantPresent: boolean,
): Promise<DistFile | undefined> {
  for (let attempt = 0; ; attempt++) {
    ctx.destination.invalidate?.(project);
    const found = (await ctx.destination.listFiles(project)).get(filename);
    if (found || !wantPresent || attempt + 1 >= ctx.verifyAttempts) return found;
    await sleep(ctx.verifyDelayMs * 2 ** attempt);
  }
}

/** How an upload ended: sent, or already there by the destination's answer or index, or a conflict found. */
export type Sent = { via: "uploaded" | "exists"; answer?: string | undefined } | { conflict: FileOutcome };

export async function send(
  ctx: RunContext,
  file: DistFile,
  local: LocalDist,
  meta: CoreMetadata | undefined,
  beforeUpload: BeforeUpload | undefined,
): Promise<Sent> {
  for (let sent = 1; ; sent++) {
    // Before every send: the journal records the attempt (and its deadline) first.
    await beforeUpload?.(file, local, ctx.notStarted);
    try {
      const res = await ctx.destination.upload(local, meta as CoreMetadata, file);
      return res.status === "exists" ? { via: "exists", answer: res.serverAnswer } : { via: "uploaded" };
    } catch (err) {
      // An answer (any HTTP status) ends the attempt: it cannot land any later. A lost
      // connection or a timeout does not: the destination may still apply what it received.
      if (err instanceof PyregError && err.status !== undefined) ctx.emit({ type: "attempt-over", file });
      if (isFatal(err)) throw err;
      // The upload may have landed (a dropped connection, a timeout, a 5xx after the write).
      // Read the index before deciding (changesets' "already published" case); an ambiguous
      // failure polls it like verification does, because an index may list a new file only after
      // a while.
      const ambiguous = isAmbiguousUploadError(err);
      // An index that cannot be read proves nothing: then the file is not sent again (the
      // next run decides from a readable index).
      let indexRead = true;
      const there = await lookAgain(ctx, file.project, file.filename, ambiguous).catch(() => {
        indexRead = false;
        return undefined;
      });
      const c = there ? compareDigests(local.digests ?? { sha256: local.sha256 }, there.hashes) : undefined;
      if (there && c?.result === "different") {
        return {
          conflict: {
            kind: "conflict",
            file,
            reason: `upload failed and the destination holds other bytes under this name (${c.digest})`,
            destinationSha256: sha256Of(there),
          },
        };
      }
      // Listed with the same digest, or without one that decides: the verification after the
      // project's uploads confirms it (by content when the index cannot).
      if (there) return { via: "exists", answer: errorMessage(err) };
      // Absent after an ambiguous failure: the upload is sent once more. A refusal (4xx) is an
      // answer, not an accident, and is not repeated.
      if (indexRead && ambiguous && sent < UPLOAD_SENDS) {
        ctx.emit({
          type: "retry",
          stage: "upload",
          file,
          reason: `${errorMessage(err)}; not listed at the destination, sending again`,
        });
        ctx.checkStop();
        continue;
      }
      throw err;
    }
  }
}
