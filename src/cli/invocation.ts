/**
 * How the user started pyreg, so that the resume command we print is one they can paste: `pyreg`
 * when the command found on PATH is this script, `npx pyreg` under npm exec, or the script's path
 * (relative to the working folder when inside it) otherwise.
 */
import { delimiter, isAbsolute, relative, resolve } from "node:path";

export interface Invocation {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** The words that start pyreg again, as the user would type them. */
export function invokedAs(
  inv: Invocation = { argv: process.argv, env: process.env, cwd: process.cwd() },
): string[] {
  const { argv, env, cwd } = inv;
  // npm exec (npx) sets npm_command=exec for the command it runs, and npm_config_package to the
  // --package values given (https://docs.npmjs.com/cli/commands/npm-exec).
  if (env["npm_command"] === "exec") {
    const pkgs = (env["npm_config_package"] ?? "")
      .split(/\n+/)
      .map((p) => p.trim())
      .filter(Boolean);
    return ["npx", ...pkgs.flatMap((p) => ["--package", p]), "pyreg"];
  }
  const script = argv[1];
  if (!script) return ["pyreg"];
  const path = resolve(cwd, script);
  for (const dir of (env["PATH"] ?? "").split(delimiter)) {
    if (dir && isAbsolute(dir) && resolve(dir, "pyreg") === path) return ["pyreg"];
  }
  const rel = relative(cwd, path);
  return [rel && !rel.startsWith("..") && !isAbsolute(rel) ? `./${rel}` : path];
}
