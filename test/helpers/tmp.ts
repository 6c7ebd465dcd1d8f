import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function tempDir(prefix = "pyreg-test-"): Promise<{ path: string; cleanup(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** filename → sha256 of every visible file directly in a folder (hidden ones skipped). */
export async function folderDigests(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of (await readdir(dir)).sort()) {
    if (name.startsWith(".")) continue;
    out.set(
      name,
      createHash("sha256")
        .update(await readFile(join(dir, name)))
        .digest("hex"),
    );
  }
  return out;
}
