/**
 * Opening an SQLite database (the journal, the page cache, the locks) through better-sqlite3. Its
 * native addon is built by its install script (a prebuilt binary from prebuild-install, else
 * node-gyp; https://github.com/WiseLibs/better-sqlite3/blob/master/docs/compilation.md). npm 12
 * runs a dependency's install script only when the install allows it (the `allowScripts` field of
 * the root package, or `--allow-scripts` for a global install; npm RFC 868,
 * https://github.com/npm/rfcs/pull/868): an install that blocked it has no addon, and every
 * command that keeps state would fail with a stack trace. That case, and an addon built for
 * another Node.js, are named here with what to do, decided from facts (the addon's file is
 * missing; Node's ERR_DLOPEN_FAILED code), not from an error's message.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { PyregError } from "./errors.js";

export function openDatabase(path: string, options?: Database.Options): Database.Database {
  try {
    return new Database(path, options);
  } catch (err) {
    throw addonError(err) ?? err;
  }
}

/** Where better-sqlite3 keeps its built addon (node-gyp's and prebuild-install's `build/Release`). */
function addonPath(): { addon: string; project: string } | undefined {
  try {
    const root = dirname(createRequire(import.meta.url).resolve("better-sqlite3/package.json"));
    // The folder whose node_modules holds it: pyreg's own, in a global install.
    return { addon: join(root, "build", "Release", "better_sqlite3.node"), project: dirname(dirname(root)) };
  } catch {
    return undefined;
  }
}

function addonError(err: unknown): PyregError | undefined {
  const where = addonPath();
  if (!where) return undefined;
  const rebuild = `or run \`npm rebuild better-sqlite3\` in ${where.project}`;
  if (!existsSync(where.addon)) {
    return new PyregError(
      "CONFIG",
      `better-sqlite3's native addon is not built (${where.addon} is missing): pyreg keeps its journal in SQLite through it`,
      {
        cause: err,
        hint:
          "its install script did not run (npm 12 and later run a dependency's install script only when allowed): " +
          `reinstall with \`npm install -g --allow-scripts=better-sqlite3 pyreg\` (or the tarball's path), ${rebuild}`,
      },
    );
  }
  if ((err as NodeJS.ErrnoException | undefined)?.code === "ERR_DLOPEN_FAILED") {
    return new PyregError(
      "CONFIG",
      `better-sqlite3's native addon ${where.addon} cannot be loaded by Node.js ${process.version}: ${(err as Error).message.split("\n")[0]}`,
      {
        cause: err,
        hint: `it was built for another Node.js version or platform, or is damaged: reinstall pyreg with the Node.js that runs it, ${rebuild}`,
      },
    );
  }
  return undefined;
}
