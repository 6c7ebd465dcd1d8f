/**
 * Which digest decides whether two listings (or a listing and downloaded bytes) are the same file.
 *
 * Simple indexes publish different digests, or none: the simple API lets an index name any
 * hashlib algorithm and recommends sha256 (https://packaging.python.org/en/latest/specifications/simple-repository-api/);
 * AWS CodeArtifact links hosted files with `#sha512=` (bazel-contrib/rules_python#3972), older
 * Artifactory with `#md5=`, many static indexes with nothing. The strongest digest both sides
 * offer is compared, in the order below. md5 only proves a difference (collisions are cheap to make,
 * https://www.kb.cert.org/vuls/id/836068): equal md5 digests, or no digest at all, are settled by
 * reading the bytes themselves.
 */
import type { DistFile } from "./model.js";

/** Strongest first. */
export const DIGEST_ORDER = ["sha512", "sha384", "sha256", "sha1", "md5"] as const;
export type DigestName = (typeof DIGEST_ORDER)[number];

/** Digests an index listing may decide "same bytes" with. */
const DECISIVE: ReadonlySet<DigestName> = new Set(["sha512", "sha384", "sha256", "sha1"]);

export function isDecisive(name: string): boolean {
  return DECISIVE.has(name as DigestName);
}

function digestOf(hashes: Record<string, string>, name: string): string | undefined {
  return hashes[name]?.toLowerCase();
}

/** The strongest digest a listing offers (md5 included), if any. */
export function strongestDigest(f: DistFile): { name: DigestName; value: string } | undefined {
  for (const name of DIGEST_ORDER) {
    const value = digestOf(f.hashes, name);
    if (value) return { name, value };
  }
  return undefined;
}

/** The strongest decisive digest a listing offers (md5 never), if any. */
export function decisiveDigest(
  hashes: Record<string, string>,
): { name: DigestName; value: string } | undefined {
  for (const name of DIGEST_ORDER) {
    const value = digestOf(hashes, name);
    if (value && DECISIVE.has(name)) return { name, value };
  }
  return undefined;
}

export type Comparison =
  /** A decisive digest both offer agrees. */
  | { result: "same"; digest: DigestName }
  /** A digest both offer (md5 too: a different md5 is different bytes) disagrees. */
  | { result: "different"; digest: DigestName; have: string; want: string }
  /** Nothing decisive in common: the bytes must be read. */
  | { result: "unknown" };

/**
 * Compares what two listings (or a listing and computed digests) say, with the strongest digest
 * both offer. `want` is the source's side, `have` the destination's.
 */
export function compareDigests(want: Record<string, string>, have: Record<string, string>): Comparison {
  for (const name of DIGEST_ORDER) {
    const a = digestOf(want, name);
    const b = digestOf(have, name);
    if (!a || !b) continue;
    if (a !== b) return { result: "different", digest: name, have: b, want: a };
    if (DECISIVE.has(name)) return { result: "same", digest: name };
  }
  return { result: "unknown" };
}

/** How a copied (or checked) file's bytes at the destination were confirmed. */
export interface Verification {
  /** "index": the destination's index lists the file with this digest of the source's bytes;
   * "content": the file was downloaded from the destination and its digest computed. */
  by: "index" | "content";
  digest: DigestName;
}

export function formatVerification(v: Verification | undefined): string {
  if (!v) return "";
  return v.by === "index" ? `index listing (${v.digest})` : `downloaded content (${v.digest})`;
}

/** Parses what formatVerification's short form ("index:sha512") stored in the journal. */
export function verificationKey(v: Verification | undefined): string | null {
  return v ? `${v.by}:${v.digest}` : null;
}

export function parseVerificationKey(s: string | null | undefined): Verification | undefined {
  if (!s) return undefined;
  const [by, digest] = s.split(":");
  if ((by === "index" || by === "content") && DIGEST_ORDER.includes(digest as DigestName))
    return { by, digest: digest as DigestName };
  return undefined;
}
