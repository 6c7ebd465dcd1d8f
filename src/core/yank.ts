/**
 * A file's yanked status (PEP 592) kept beside it in a folder: `FILENAME.yanked`, holding the
 * reason (empty when none was given). A folder destination writes it, a folder source and
 * `pyreg serve` read it, so a yanked file stays yanked (pip skips it unless pinned exactly).
 */
import { readFile, writeFile } from "node:fs/promises";

export const YANK_SUFFIX = ".yanked";

/** true (no reason), the reason, or undefined when the file is not yanked. */
export async function readYank(path: string): Promise<true | string | undefined> {
  try {
    const reason = (await readFile(path + YANK_SUFFIX, "utf8")).trim();
    return reason === "" ? true : reason;
  } catch {
    return undefined;
  }
}

export async function writeYank(path: string, yanked: true | string): Promise<void> {
  await writeFile(path + YANK_SUFFIX, yanked === true ? "" : yanked + "\n", { flag: "wx" }).catch(
    (err: NodeJS.ErrnoException) => {
      // Never overwritten: a marker already there stays as it is.
      if (err.code !== "EEXIST") throw err;
    },
  );
}

/**
 * How to yank a file by hand at a destination kind that the upload protocol cannot tell (the
 * legacy upload form has no yank field). Keyed by the destination adapter's kind.
 */
const YANK_HOW_TO: Record<string, string> = {
  gitlab:
    "GitLab's package registry has no yank (PEP 592): delete the package file (project → Deploy → Package registry) if it must not be installed",
  gar: "Artifact Registry has no yank (PEP 592): delete the version (gcloud artifacts versions delete) if it must not be installed",
  codeartifact:
    "CodeArtifact has no PEP 592 yank: hide the version with aws codeartifact update-package-versions-status --target-status Unlisted",
  pypiserver: "pypiserver has no yank: remove the file from its packages folder if it must not be installed",
  devpi: "devpi's upload API has no yank: remove the release (devpi remove) if it must not be installed",
};

export function yankHowTo(kind: string): string {
  return (
    YANK_HOW_TO[kind] ??
    "yank them in the registry's own interface (PyPI: Manage → the release → Options → Yank); for a pyreg serve folder, create FILENAME.yanked (holding the reason) beside the file"
  );
}
