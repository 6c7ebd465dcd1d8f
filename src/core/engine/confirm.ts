/**
 * The confirmation stage: whether the destination holds the bytes sent under a filename, from the
 * strongest digest its listing shares with the digests computed while downloading, or (when the
 * listing cannot decide, or content checks are asked for) by reading the file back.
 */
import { createHash } from "node:crypto";
import { compareDigests, type DigestName, type Verification } from "../digests.js";
import { errorMessage, PyregError } from "../errors.js";
import type { Destination, DistFile, LocalDist } from "../model.js";

export type Confirmation =
  | { ok: true; verification: Verification }
  | { ok: false; by: Verification["by"]; digest: DigestName; have: string };

/** Reads a file back from the destination and computes `digest` of its bytes. */
export async function destinationDigest(
  destination: Destination,
  there: DistFile,
  digest: DigestName,
): Promise<string> {
  if (!destination.open) {
    throw new PyregError(
      "NOT_LISTED",
      `${there.filename}: the destination cannot be read back to check its bytes`,
    );
  }
  const body = await destination.open(there);
  const h = createHash(digest);
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) h.update(chunk);
  } catch (err) {
    body.destroy();
    throw new PyregError(
      "HTTP",
      `${there.filename}: reading it back from the destination was cut short (${errorMessage(err)})`,
      {
        hint: "run again to check it",
        cause: err,
      },
    );
  }
  return h.digest("hex");
}

/**
 * Whether the destination holds `local`'s bytes under `there`: from the strongest digest both
 * the listing and the computed digests share, else (or when `content`) by reading it back.
 */
export async function confirm(
  destination: Destination,
  local: LocalDist,
  there: DistFile,
  content: boolean,
): Promise<Confirmation> {
  const c = compareDigests(local.digests ?? { sha256: local.sha256 }, there.hashes);
  if (c.result === "different") return { ok: false, by: "index", digest: c.digest, have: c.have };
  if (c.result === "same" && !content) return { ok: true, verification: { by: "index", digest: c.digest } };
  const have = await destinationDigest(destination, there, "sha256");
  return have === local.sha256
    ? { ok: true, verification: { by: "content", digest: "sha256" } }
    : { ok: false, by: "content", digest: "sha256", have };
}
