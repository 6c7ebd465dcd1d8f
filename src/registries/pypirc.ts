/**
 * Repositories by name, as twine reads them from ~/.pypirc (or --config-file): the format of
 * https://packaging.python.org/en/latest/specifications/pypirc/ and twine's `utils.get_config`:
 * - `[distutils] index-servers` lists the repository names (default: `pypi testpypi`); only
 *   sections listed there are repositories;
 * - each section gives `repository` (the upload URL), `username`, `password`; `pypi` and (when
 *   listed) `testpypi` have their upload URLs by default; `[server-login]` gives a default
 *   username and password (obsolete, still read by twine);
 * - a missing default ~/.pypirc is no error; a missing --config-file is.
 *
 * The file is read with the `ini` package, then brought to what Python's configparser (twine
 * uses RawConfigParser) gives for these keys: option names are case-insensitive, `name: value`
 * is a key too, indented continuation lines of `index-servers` are more names, and a dotted
 * section name (`[corp.prod]`) is one section. Differences that remain (README, ".pypirc"):
 * `ini` removes quotes around a value and ends a value at an unescaped `;` or `#` (configparser
 * keeps both), so such a password must be written with `\;` / `\#` for pyreg.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import ini from "ini";
import { PyregError } from "../core/errors.js";
import { registerSecret } from "../http/redact.js";

export const DEFAULT_REPOSITORY = "https://upload.pypi.org/legacy/";
export const TEST_REPOSITORY = "https://test.pypi.org/legacy/";

export interface PypircRepository {
  name: string;
  repository?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  /** The file it came from, for messages. */
  file: string;
}

type Section = Record<string, string | boolean>;

/** Sections of an `ini` document, dotted names flattened back, option names in lower case. */
function sectionsOf(doc: Record<string, unknown>): Map<string, Section> {
  const out = new Map<string, Section>();
  const walk = (name: string, value: Record<string, unknown>): void => {
    const section: Section = {};
    for (const [key, v] of Object.entries(value)) {
      if (v !== null && typeof v === "object" && !Array.isArray(v)) {
        walk(`${name}.${key}`, v as Record<string, unknown>);
        continue;
      }
      if (typeof v !== "string" && typeof v !== "boolean") continue;
      // configparser also splits at ":"; `ini` knows only "=" and keeps "key: value" as a key.
      const colon = v === true ? /^([^:]+):(.*)$/.exec(key) : null;
      if (colon) section[(colon[1] as string).trim().toLowerCase()] = (colon[2] as string).trim();
      else section[key.trim().toLowerCase()] = v;
    }
    out.set(name, section);
  };
  for (const [name, value] of Object.entries(doc)) {
    if (value !== null && typeof value === "object" && !Array.isArray(value))
      walk(name, value as Record<string, unknown>);
  }
  return out;
}

export function defaultPypircPath(env: NodeJS.ProcessEnv): string {
  return join(env["HOME"] ?? homedir(), ".pypirc");
}

/** The repositories of a .pypirc, by name (twine's get_config). */
export function readPypirc(file: string | undefined, env: NodeJS.ProcessEnv): Map<string, PypircRepository> {
  const path = file ?? defaultPypircPath(env);
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    // Without ~/.pypirc, twine still knows pypi and testpypi.
    if (file === undefined && (err as NodeJS.ErrnoException).code === "ENOENT") text = "";
    else
      throw new PyregError("CONFIG", `cannot read the config file ${path}: ${(err as Error).message}`, {
        hint: "give an existing .pypirc with --config-file FILE",
      });
  }
  const sections = sectionsOf(ini.parse(text) as Record<string, unknown>);
  const str = (s: Section | undefined, key: string): string | undefined => {
    const v = s?.[key];
    return typeof v === "string" ? v : undefined;
  };
  const login = sections.get("server-login");
  const distutils = sections.get("distutils");
  let names = ["pypi", "testpypi"];
  if (distutils && "index-servers" in distutils) {
    // Continuation lines ("index-servers =" then one indented name per line) come out of `ini`
    // as keys without a value, in order.
    const first = str(distutils, "index-servers") ?? "";
    const more = Object.entries(distutils)
      .filter(([k, v]) => v === true && k !== "index-servers")
      .map(([k]) => k);
    names = [...first.split(/\s+/), ...more].filter(Boolean);
  }
  const out = new Map<string, PypircRepository>();
  const base = (name: string): PypircRepository => ({
    name,
    file: path,
    username: str(login, "username"),
    password: str(login, "password"),
    ...(name === "pypi" ? { repository: DEFAULT_REPOSITORY } : {}),
    ...(name === "testpypi" && names.includes("testpypi") ? { repository: TEST_REPOSITORY } : {}),
  });
  out.set("pypi", base("pypi"));
  if (names.includes("testpypi")) out.set("testpypi", base("testpypi"));
  for (const name of names) {
    const section = sections.get(name);
    if (!section) continue;
    const repo = out.get(name) ?? base(name);
    for (const key of ["repository", "username", "password"] as const) {
      const v = str(section, key);
      if (v !== undefined) repo[key] = v;
    }
    out.set(name, repo);
  }
  for (const repo of out.values()) {
    if (repo.password) {
      registerSecret(repo.password);
      if (repo.username) registerSecret(`${repo.username}:${repo.password}`);
    }
  }
  return out;
}
