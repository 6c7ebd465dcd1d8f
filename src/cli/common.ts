/** What every command shares: options, the HTTP client, opening registries, output streams. */
import { existsSync } from "node:fs";
import { Option, type Command } from "commander";
import { PyregError } from "../core/errors.js";
import { jsonPieces, Streamed } from "../core/jsonPieces.js";
import { writePieces } from "../core/usecases/state.js";
import { parseShard } from "../core/shard.js";
import { redactText } from "../http/redact.js";
import { parseKeyringProvider } from "../registries/keyring.js";
import { readPypirc, type PypircRepository } from "../registries/pypirc.js";
import { kindFor } from "../registries/index.js";
import { looksLikeIndex, withSlash } from "../registries/simple/index.js";
import { parseSpec } from "../registries/spec.js";
import type { Side } from "../registries/types.js";
import { formatBytes } from "../core/units.js";
import {
  DEFAULT_CONCURRENCY,
  DEFAULT_STATE_DIR,
  openRuntime,
  type RunOptions,
  type Runtime,
} from "../core/usecases/options.js";
import type { PyregEvent } from "../core/usecases/events.js";

export {
  context,
  DEFAULT_CONCURRENCY,
  DEFAULT_STATE_DIR,
  endpointOf,
  openFrom,
  openTo,
  redactArgv,
  selectionFrom,
  stateDirOf,
  type Runtime,
  type SelectionFlags,
  type StateOptions,
} from "../core/usecases/options.js";

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function positiveInt(name: string, max = 1_000_000): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) {
      throw new PyregError("USAGE", `${name} takes a whole number from 1 to ${max}, not "${v}"`);
    }
    return n;
  };
}

export function nonNegativeInt(name: string, max: number): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > max) {
      throw new PyregError("USAGE", `${name} takes a whole number from 0 to ${max}, not "${v}"`);
    }
    return n;
  };
}

/**
 * Help groups (commander's optionsGroup): the options of every command in the same order and
 * under the same headings, so that plan, migrate and verify read alike.
 */
export const HELP_GROUPS = {
  registries: "Registries:",
  output: "Output:",
  selection: "Selection:",
  state: "State (resume, reports, sharding):",
  connection: "Connection:",
  credentials: "Credentials and proxies:",
  destination: "Destination:",
  gitlab: "GitLab:",
  gar: "Google Artifact Registry:",
} as const;

export function addSelectionOptions(cmd: Command): Command {
  const list = (flags: string, text: string): Option => new Option(flags, text).argParser(collect);
  return cmd
    .optionsGroup(HELP_GROUPS.output)
    .option("--json", "print a machine-readable result on stdout (human text goes to stderr)")
    .option("-q, --quiet", "only errors and the final summary on stderr")
    .option("-v, --verbose", "show each HTTP request on stderr: method, URL (redacted), status, time, retry")
    .optionsGroup(HELP_GROUPS.selection)
    .addOption(
      list(
        "--include <spec>",
        "only projects matching a glob of normalized names, optionally with a PEP 440 specifier set: 'acme-*', 'acme-utils>=2,<3' (repeatable; any match keeps)",
      ).default([], "all"),
    )
    .addOption(
      list(
        "--exclude <spec>",
        "leave out matching projects, or only their versions in the specifier set: 'legacy-*', 'acme-utils<1' (repeatable)",
      ).default([], "none"),
    )
    .addOption(
      new Option("--prereleases <mode>", "pre-releases (a, b, rc, dev): include or exclude")
        .choices(["include", "exclude"])
        .default("include"),
    )
    .addOption(
      list("--package-types <types>", "only these kinds of file: wheel, sdist, other (comma-separated)"),
    )
    .addOption(
      list(
        "--platforms <list>",
        "wheels: only these platforms: linux, macos, windows, any (pure wheels), or platform tag globs such as '*musllinux*' (sdists are kept)",
      ),
    )
    .addOption(list("--exclude-platforms <list>", "wheels: leave out these platforms (same names and globs)"))
    .addOption(
      list(
        "--python-tags <list>",
        "wheels: only those with one of these python tags or globs: cp311, 'cp3*', py3",
      ),
    )
    .addOption(
      list(
        "--exclude-python-tags <list>",
        "wheels: leave out those whose python tags all match, e.g. 'cp27,py2' (a py2.py3 wheel stays)",
      ),
    )
    .option(
      "--latest <n>",
      "per project, only the N highest versions left by the other rules (PEP 440 order)",
      positiveInt("--latest"),
    )
    .option(
      "--uploaded-since <date>",
      "only files uploaded at or after DATE (YYYY-MM-DD or ISO 8601; files with no known upload time are left out, and counted in a warning)",
    )
    .option("--uploaded-before <date>", "only files uploaded before DATE (same rules)")
    .option(
      "--max-file-size <size>",
      "only files up to SIZE: bytes, or 50MB, 2GiB... (files of unknown size are left out, and counted in a warning)",
    )
    .addOption(
      list(
        "--requirements <file>",
        "only the files this lock pins: requirements.txt (== pins, --hash), pylock.toml, uv.lock, poetry.lock, pdm.lock (repeatable); a pinned file missing at the source or with another sha256 is a problem (exit 1)",
      ),
    );
}

/** Options for talking to registries. */
export function addConnectionOptions(cmd: Command, withDestination: boolean): Command {
  cmd
    .optionsGroup(HELP_GROUPS.connection)
    .option(
      "--concurrency <n>",
      "files (and project listings) in flight at once",
      positiveInt("--concurrency", 256),
      DEFAULT_CONCURRENCY,
    )
    .option(
      "--timeout <seconds>",
      "per attempt: longest wait for the headers or for the next bytes of a body (connect: at most 30)",
      positiveInt("--timeout", 3600),
      60,
    )
    .option(
      "--deadline <seconds>",
      "per request: total time for all attempts and pauses (and the whole answer of an index page or API call; file downloads: until the headers); 0 = none",
      nonNegativeInt("--deadline", 86_400),
      300,
    )
    .option(
      "--retries <n>",
      "retries of a failed idempotent request (GET; 408/425/429/5xx, resets, timeouts, bodies cut short), with backoff",
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 20)
          throw new PyregError("USAGE", `--retries takes 0 to 20, not "${v}"`);
        return n;
      },
      5,
    )
    .option(
      "--retry-delay <ms>",
      "first backoff pause; doubles per retry, with jitter (half to all of it)",
      nonNegativeInt("--retry-delay", 600_000),
      250,
    )
    .option(
      "--retry-max-delay <ms>",
      "cap of one backoff pause",
      nonNegativeInt("--retry-max-delay", 3_600_000),
      15_000,
    )
    .option(
      "--max-retry-after <seconds>",
      "cap of a server's Retry-After (429/503); the whole host waits that long",
      nonNegativeInt("--max-retry-after", 3600),
      120,
    )
    .option("--ca-bundle <file>", "trust this CA bundle (PEM) for TLS, e.g. for a self-managed registry")
    .option("--insecure", "do NOT verify TLS certificates (warned; for throw-away tests only)")
    .option(
      "--allow-foreign-file-hosts",
      "fetch files whose URL is on another host than the index (never with credentials)",
    )
    .optionsGroup(HELP_GROUPS.credentials)
    .option(
      "--proxy <url>",
      "send every request through this proxy (http://[user:password@]host:port); default: HTTPS_PROXY, HTTP_PROXY, ALL_PROXY; NO_PROXY applies to both",
    )
    .option(
      "--config-file <file>",
      "the .pypirc to read repository names from, as twine (default: ~/.pypirc)",
    )
    .option(
      "--keyring-provider <provider>",
      "subprocess: ask the `keyring` command for passwords (keyring get URL USERNAME), as pip and uv; default: disabled",
      parseKeyringProvider,
    );
  if (withDestination) {
    cmd
      .optionsGroup(HELP_GROUPS.destination)
      .option(
        "--to-index <url>",
        "the destination's simple index (default: the upload URL + simple/, or known per registry)",
      )
      .option(
        "--verify-delay <ms>",
        "first pause before reading the destination index again when it does not list an uploaded file yet (doubles; 4 reads)",
        nonNegativeInt("--verify-delay", 600_000),
        500,
      );
  }
  cmd
    .optionsGroup(HELP_GROUPS.gitlab)
    .option("--exclude-subgroups", "GitLab group source: leave out the subgroups' projects")
    .option(
      "--gitlab-statuses <list>",
      "GitLab source: package statuses to copy, comma-separated, or 'all' (default: default,deprecated,hidden — what pip can install from GitLab)",
    )
    .option(
      "--gitlab-api <url>",
      "GitLab: the API root (https://host/prefix/api/v4) when it cannot be found from the URL",
    );
  return cmd;
}

/** Options that change the destination itself: only for migrate (plan and verify change nothing). */
export function addCreateOptions(cmd: Command): Command {
  return cmd
    .optionsGroup(HELP_GROUPS.gar)
    .option(
      "--create-repository",
      "Google Artifact Registry: create the destination repository if it does not exist",
    )
    .option("--location <region>", "Google Artifact Registry: location for --create-repository")
    .option("--description <text>", "Google Artifact Registry: description for --create-repository")
    .optionsGroup(HELP_GROUPS.destination)
    .option(
      "--allow-broken-archives",
      "folder destination: also copy files whose archive or metadata cannot be read (by default each file is opened and its metadata checked first, as every upload destination does, and a broken one is reported as failed)",
    );
}

/** A repository name as twine takes it (`-r NAME`): a word, no path separator, no scheme. */
const BARE_WORD = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * SOURCE/DESTINATION given as a bare word: an existing folder, or a repository of the .pypirc
 * (twine's `--repository NAME`), whose URL replaces it; anything else is refused, so that a
 * mistyped name never becomes a new local folder.
 */
export function resolveRegistryArg(
  raw: string,
  opts: { configFile?: string | undefined },
  side: Side,
  env: NodeJS.ProcessEnv = process.env,
): { spec: string; pypirc?: PypircRepository } {
  if (!BARE_WORD.test(raw)) return { spec: raw };
  const repos = readPypirc(opts.configFile, env);
  const repo = repos.get(raw);
  const folder = existsSync(raw);
  const file = opts.configFile ?? "~/.pypirc";
  if (repo && folder) {
    throw new PyregError("USAGE", `"${raw}" is both a folder here and a repository in ${file}`, {
      hint: `write ./${raw} for the folder, or the repository's URL`,
    });
  }
  if (folder) return { spec: raw };
  if (repo) {
    if (!repo.repository) {
      throw new PyregError("CONFIG", `repository [${raw}] in ${repo.file} has no repository URL`, {
        hint: `add "repository = https://..." to the [${raw}] section`,
      });
    }
    // A .pypirc names upload URLs. Read as a source, a generic one's index is URL + simple/, the
    // index pyreg derives for it as a destination; other kinds know their index themselves.
    const spec = parseSpec(repo.repository);
    if (side === "source" && spec.url && kindFor(spec).name === "simple" && !looksLikeIndex(spec.url))
      return { spec: new URL("simple/", withSlash(spec.url.toString())).toString(), pypirc: repo };
    return { spec: repo.repository, pypirc: repo };
  }
  throw new PyregError("USAGE", `"${raw}" is neither an existing folder nor a repository in ${file}`, {
    hint: `for a new folder write ./${raw}; for a repository, add a [${raw}] section (repository, username, password) listed in [distutils] index-servers of ${file}`,
  });
}

/**
 * The version of pyreg's --json documents (docs/json-schema.json): every command prints one
 * object with `version`, `command`, then its result, or `error` when it failed.
 */
export const JSON_VERSION = 2;

export type JsonCommand = "list" | "plan" | "migrate" | "verify";

export function printJson(command: JsonCommand | string, body: Record<string, unknown>): void {
  process.stdout.write(
    redactText(JSON.stringify({ version: JSON_VERSION, command, ...body }, null, 2)) + "\n",
  );
}

/**
 * A --json document that may be large: written in pieces as it is made (its lists, given as
 * Streamed, are read while they are written), waiting for stdout to drain. The text is the same as
 * printJson's; it is never one string, which V8 caps at 2^29 - 24 characters.
 */
export async function printJsonStream(command: JsonCommand, body: Record<string, unknown>): Promise<void> {
  await writePieces(
    process.stdout,
    (function* () {
      yield* jsonPieces({ version: JSON_VERSION, command, ...body }, "", 2);
      yield "\n";
    })(),
  );
}

/** A list of a --json document read as it is written (see printJsonStream). */
export function streamed<T, U>(list: Iterable<T>, f: (t: T) => U): Streamed {
  return new Streamed(function* () {
    for (const t of list) yield f(t);
  });
}

/** A registry in --json output: always an object (kind and description). */
export function endpointJson(r: { kind: string; describe(): string }): { kind: string; description: string } {
  return { kind: r.kind, description: r.describe() };
}

export function human(opts: { json: boolean }, text: string): void {
  // With --json, stdout is reserved for the JSON document.
  (opts.json ? process.stderr : process.stdout).write(redactText(text) + "\n");
}

export { formatBytes };

export interface CommonOptions extends RunOptions {
  json: boolean;
  quiet: boolean;
}

/** The CLI's rendering of the runtime's events: messages, retries, and --verbose's requests, on stderr. */
export function renderRuntimeEvent(opts: { quiet?: boolean }, e: PyregEvent): void {
  if (e.type === "log") {
    if (!opts.quiet) process.stderr.write(redactText(e.message) + "\n");
  } else if (e.type === "warning") {
    process.stderr.write(redactText("warning: " + e.message) + "\n");
  } else if (e.type === "http-retry") {
    if (!opts.quiet)
      process.stderr.write(
        redactText(
          `retrying ${e.method} ${e.url} in ${Math.round(e.delayMs)} ms (${e.reason}, attempt ${e.attempt})`,
        ) + "\n",
      );
  } else if (e.type === "http-request") {
    const r = e.request;
    const answer = r.status !== undefined ? String(r.status) : `failed (${r.error ?? "error"})`;
    const extra = [r.retry ? `retry ${r.retry}` : "", r.proxy ? `via ${r.proxy}` : ""].filter(Boolean);
    process.stderr.write(
      redactText(
        `http: ${r.method} ${r.url} ${answer} ${Math.round(r.ms)} ms${extra.length ? ` (${extra.join(", ")})` : ""}`,
      ) + "\n",
    );
  }
}

export function makeRuntime(opts: CommonOptions, env: NodeJS.ProcessEnv = process.env): Runtime {
  return openRuntime(opts, (e) => renderRuntimeEvent(opts, e), env);
}

export function addStateOptions(cmd: Command, forMigrate: boolean): Command {
  cmd
    .optionsGroup(HELP_GROUPS.state)
    .option(
      "--state <dir>",
      forMigrate
        ? `state folder: the journal (resume) and report.json/report.md (default: one folder per source/destination pair and shard under ./${DEFAULT_STATE_DIR}/)`
        : `the migration's state folder (default: migrate's for this source/destination pair and shard under ./${DEFAULT_STATE_DIR}/): when it holds that migration's journal, the check is recorded in it and its report.json/report.md are written again; verify never creates one`,
    )
    .addOption(
      new Option(
        "--reset-state",
        "start the state folder over when it belongs to another source/destination (the old journal is kept beside it)",
      ).hideHelp(!forMigrate),
    )
    .option(
      "--report <path>",
      "also write the report to PATH.json and PATH.md (PATH ending in .json or .md: that name and the other format beside it)",
    )
    .option(
      "--shard <K/N>",
      "only the projects of shard K of N (stable hash of the project name), so N machines share one migration",
      parseShard,
    );
  if (forMigrate) {
    cmd
      .option(
        "--retry-failed",
        "also try again files that failed in an earlier run with a lasting error (bad archive or metadata, sha256 mismatch, refused by the destination); other failures are always tried again",
      )
      .option(
        "--recheck-wait <seconds>",
        "after an interruption: wait this long (and at least until the unconfirmed upload's request deadline has passed) before reading the destination index again for files whose upload was not confirmed, before sending them again",
        nonNegativeSeconds("--recheck-wait"),
        5,
      )
      .option(
        "--verify-content",
        "check every copied file by downloading it back from the destination and hashing it (always done for destinations whose index lists the digest the client sent, such as GitLab)",
      );
  } else {
    cmd.option(
      "--content",
      "download every file from the destination and check its sha256 (by default the index listing is compared, and only files it cannot decide are downloaded)",
    );
  }
  return cmd;
}

function nonNegativeSeconds(name: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || n > 3600) {
      throw new PyregError("USAGE", `${name} takes seconds from 0 to 3600, not "${v}"`);
    }
    return n;
  };
}
