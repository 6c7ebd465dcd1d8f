/** Fills the hand-written lock templates of test/fixtures/lockfiles/ (the @...@ marks). */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT } from "./cli.js";

export const LOCK_FIXTURES = join(REPO_ROOT, "test", "fixtures", "lockfiles");

export async function fillTemplate(
  name: string,
  values: { index: string; files: string; sha256: (filename: string) => string },
): Promise<string> {
  const text = await readFile(join(LOCK_FIXTURES, name), "utf8");
  return text
    .replaceAll("@INDEX@", values.index)
    .replaceAll("@FILES@", values.files)
    .replace(/@SHA256:([^@]+)@/g, (_m, f: string) => values.sha256(f));
}
