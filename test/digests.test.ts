/** Which digest decides: the strongest both sides publish; md5 only ever proves a difference. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { compareDigests, parseVerificationKey, verificationKey } from "../src/core/digests.js";
import { collapseDuplicates } from "../src/core/plan.js";
import type { DistFile } from "../src/core/model.js";

test("the strongest shared digest decides, in the order sha512, sha384, sha256, sha1, md5", () => {
  assert.deepEqual(compareDigests({ sha512: "AA", sha256: "1" }, { sha512: "aa", sha256: "2" }), {
    result: "same",
    digest: "sha512",
  });
  assert.deepEqual(compareDigests({ sha256: "1", sha1: "x" }, { sha256: "2", sha1: "x" }), {
    result: "different",
    digest: "sha256",
    have: "2",
    want: "1",
  });
  assert.deepEqual(compareDigests({ sha1: "x" }, { sha1: "x" }), { result: "same", digest: "sha1" });
});

test("md5 proves a difference, never sameness; nothing shared decides nothing", () => {
  assert.deepEqual(compareDigests({ md5: "a" }, { md5: "a" }), { result: "unknown" });
  assert.equal(compareDigests({ md5: "a" }, { md5: "b" }).result, "different");
  assert.deepEqual(compareDigests({ sha256: "a" }, { sha512: "b" }), { result: "unknown" });
  assert.deepEqual(compareDigests({}, {}), { result: "unknown" });
});

test("verification keys round-trip", () => {
  const v = { by: "content", digest: "sha256" } as const;
  assert.deepEqual(parseVerificationKey(verificationKey(v)), v);
  assert.equal(parseVerificationKey("index:blake2"), undefined);
});

test("duplicate listings: same URL or same digest collapse; otherwise one problem, nothing planned", () => {
  const f = (url: string, hashes: Record<string, string>): DistFile => ({
    project: "p",
    version: "1",
    filename: "p-1.tar.gz",
    url,
    hashes,
  });
  assert.equal(collapseDuplicates([f("a", {}), f("a", {})]).files.length, 1);
  assert.equal(collapseDuplicates([f("a", { sha256: "1" }), f("b", { sha256: "1" })]).files.length, 1);
  const noDigest = collapseDuplicates([f("a", {}), f("b", {})]);
  assert.deepEqual([noDigest.files.length, noDigest.problems[0]?.code], [0, "DUPLICATE_LISTING"]);
  const md5Only = collapseDuplicates([f("a", { md5: "1" }), f("b", { md5: "1" })]);
  assert.equal(md5Only.files.length, 0, "equal md5 digests do not show the bytes are the same");
  const differ = collapseDuplicates([f("a", { sha256: "1" }), f("b", { sha256: "2" })]);
  assert.match(differ.problems[0]?.reason ?? "", /2 times with different sha256/);
});
