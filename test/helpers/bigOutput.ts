/** Running the CLI on large inputs: its output goes to files, read back a line at a time. */
import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { PYREG_BIN, REPO_ROOT } from "./cli.js";

/** Runs bin/pyreg under node with these options; stdout to a file, stderr to a file or kept. */
export async function pyregToFiles(
  nodeOptions: readonly string[],
  args: readonly string[],
  stdoutPath: string,
  stderrPath?: string,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const out = await open(stdoutPath, "w");
  const err = stderrPath ? await open(stderrPath, "w") : undefined;
  try {
    return await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [...nodeOptions, PYREG_BIN, ...args], {
        cwd: REPO_ROOT,
        env: { ...process.env, NO_COLOR: "1", CI: "true" },
        stdio: ["ignore", out.fd, err ? err.fd : "pipe"],
      });
      let stderr = "";
      child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("error", reject);
      child.on("close", (code, signal) => resolve({ code, signal, stderr }));
    });
  } finally {
    await out.close();
    await err?.close();
  }
}

/**
 * Lines of a file that contain `needle` (or match it), counted as the file streams. Lines come as
 * readline's "line" events, not its async iterator: under `node --test` every promise passes
 * through the runner's async hooks, and a promise per line made a count of a few million lines
 * take tens of seconds.
 */
export async function countLines(path: string, needle: string | RegExp): Promise<number> {
  let n = 0;
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  lines.on("line", (line: string) => {
    if (typeof needle === "string" ? line.includes(needle) : needle.test(line)) n++;
  });
  await once(lines, "close");
  return n;
}
