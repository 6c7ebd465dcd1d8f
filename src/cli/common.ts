/** What every command shares: options, the HTTP client, opening registries, output streams. */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Option, type Command } from "commander";
import { PyregError } from "../core/errors.js";
import type { Endpoint } from "../core/journal.js";
import { parseShard, type Shard } from "../core/shard.js";
import type { Destination, Source } from "../core/model.js";
import { HttpClient, type RequestLog } from "../http/client.js";
import { redactText, redactUserinfo } from "../http/redact.js";
import { proxySettings } from "../http/proxy.js";
import type { CredentialHints } from "../registries/auth.js";
import { parseKeyringProvider, type KeyringProvider } from "../registries/keyring.js";
import { readPypirc, type PypircRepository } from "../registries/pypirc.js";
import { kindFor, openDestination, openSource } from "../registries/index.js";
import { looksLikeIndex, withSlash } from "../registries/simple/index.js";
import { parseSpec } from "../registries/spec.js";
import type { RegistryContext, RegistryOptions, Side } from "../registries/types.js";
import { formatBytes } from "../core/units.js";
import { rulesFrom, Selection } from "../core/select/index.js";
import { readPins } from "../core/select/locks.js";

export interface CommonOptions extends SelectionFlags {
  concurrency: number;
  json: boolean;
  quiet: boolean;
  toIndex?: string;
  allowForeignFileHosts?: boolean;
  allowBrokenArchives?: boolean;
  insecure?: boolean;
  caBundle?: string;
  proxy?: string;
  verbose?: boolean;
  configFile?: string;
  keyringProvider?: KeyringProvider;
  /** Set by resolveRegistryArgs when --from / --to named a .pypirc repository. */
  fromPypirc?: PypircRepository;
  toPypirc?: PypircRepository;
  timeout: number;
  retries: number;
  deadline: number;
  retryDelay: number;
  retryMaxDelay: number;
  maxRetryAfter: number;
  verifyDelay?: number;
  excludeSubgroups?: boolean;
  gitlabStatuses?: string;
  gitlabApi?: string;
  createRepository?: boolean;
  location?: string;
  description?: string;
}

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

export const DEFAULT_CONCURRENCY = 8;

/** The selection flags as commander parses them (see addSelectionOptions). */
export interface SelectionFlags {
  include: string[];
  exclude: string[];
  prereleases?: "include" | "exclude";
  packageTypes?: string[];
  platforms?: string[];
  excludePlatforms?: string[];
  pythonTags?: string[];
  excludePythonTags?: string[];
  latest?: number;
  uploadedSince?: string;
  uploadedBefore?: string;
  maxFileSize?: string;
  requirements?: string[];
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

/** The selection rules of the flags; a bad value is a usage error naming its option. */
export async function selectionFrom(opts: SelectionFlags): Promise<Selection> {
  const locks = opts.requirements?.length ? await readPins(opts.requirements) : undefined;
  return new Selection(
    rulesFrom({
      include: opts.include,
      exclude: opts.exclude,
      ...(opts.prereleases ? { prereleases: opts.prereleases } : {}),
      ...(opts.packageTypes ? { packageTypes: opts.packageTypes } : {}),
      ...(opts.platforms ? { platforms: opts.platforms } : {}),
      ...(opts.excludePlatforms ? { excludePlatforms: opts.excludePlatforms } : {}),
      ...(opts.pythonTags ? { pythonTags: opts.pythonTags } : {}),
      ...(opts.excludePythonTags ? { excludePythonTags: opts.excludePythonTags } : {}),
      ...(opts.latest !== undefined ? { latest: opts.latest } : {}),
      ...(opts.uploadedSince !== undefined ? { uploadedSince: opts.uploadedSince } : {}),
      ...(opts.uploadedBefore !== undefined ? { uploadedBefore: opts.uploadedBefore } : {}),
      ...(opts.maxFileSize !== undefined ? { maxFileSize: opts.maxFileSize } : {}),
      ...(locks ? { pins: locks.pins, lockNotes: locks.notes, requirements: opts.requirements ?? [] } : {}),
    }),
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

export interface Runtime {
  http: HttpClient;
  /** Credential sources per side from the command line (.pypirc section, keyring provider). */
  credentials: Record<Side, CredentialHints>;
  log: (message: string) => void;
  warn: (message: string) => void;
  options: RegistryOptions;
  close(): Promise<void>;
}

export function makeRuntime(opts: CommonOptions, env: NodeJS.ProcessEnv = process.env): Runtime {
  const quiet = opts.quiet;
  const log = (m: string): void => {
    if (!quiet) process.stderr.write(redactText(m) + "\n");
  };
  const warn = (m: string): void => {
    process.stderr.write("warning: " + redactText(m) + "\n");
  };
  if (opts.insecure)
    warn("--insecure: TLS certificates are NOT verified; anyone on the path can read and change the traffic");
  const http = new HttpClient({
    retry: {
      retries: opts.retries,
      baseDelayMs: opts.retryDelay ?? 250,
      maxDelayMs: opts.retryMaxDelay ?? 15_000,
      maxRetryAfterMs: (opts.maxRetryAfter ?? 120) * 1000,
    },
    timeouts: {
      connectMs: Math.min(opts.timeout, 30) * 1000,
      headersMs: opts.timeout * 1000,
      bodyIdleMs: opts.timeout * 1000,
      deadlineMs: (opts.deadline ?? 300) * 1000,
    },
    connectionsPerHost: Math.max(opts.concurrency, 4),
    insecure: opts.insecure ?? false,
    caFile: opts.caBundle,
    proxy: proxySettings(env, opts.proxy),
    ...(opts.verbose
      ? {
          onRequest: (r: RequestLog) => {
            const answer = r.status !== undefined ? String(r.status) : `failed (${r.error ?? "error"})`;
            const extra = [r.retry ? `retry ${r.retry}` : "", r.proxy ? `via ${r.proxy}` : ""].filter(
              Boolean,
            );
            process.stderr.write(
              redactText(
                `http: ${r.method} ${r.url} ${answer} ${Math.round(r.ms)} ms${extra.length ? ` (${extra.join(", ")})` : ""}`,
              ) + "\n",
            );
          },
        }
      : {}),
    onRetry: (i) => {
      if (!quiet)
        process.stderr.write(
          redactText(
            `retrying ${i.method} ${i.url} in ${Math.round(i.delayMs)} ms (${i.reason}, attempt ${i.attempt})`,
          ) + "\n",
        );
    },
  });
  const options: RegistryOptions = {
    toIndex: opts.toIndex,
    allowForeignFileHosts: opts.allowForeignFileHosts,
    allowBrokenArchives: opts.allowBrokenArchives,
    excludeSubgroups: opts.excludeSubgroups,
    gitlabStatuses: opts.gitlabStatuses
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    gitlabApi: opts.gitlabApi,
    createRepository: opts.createRepository,
    location: opts.location,
    description: opts.description,
  };
  const hints = (rc: PypircRepository | undefined): CredentialHints => ({
    keyringProvider: opts.keyringProvider,
    pypirc: rc
      ? { username: rc.username, password: rc.password, source: `[${rc.name}] in ${rc.file}` }
      : undefined,
  });
  const credentials = { source: hints(opts.fromPypirc), destination: hints(opts.toPypirc) };
  return { http, credentials, log, warn, options, close: () => http.close() };
}

export function context(rt: Runtime, side: Side, env: NodeJS.ProcessEnv = process.env): RegistryContext {
  return { http: rt.http, side, env, options: rt.options, log: rt.log, credentials: rt.credentials[side] };
}

export async function openFrom(spec: string, rt: Runtime): Promise<Source> {
  return openSource(parseSpec(spec), context(rt, "source"));
}

export async function openTo(spec: string, rt: Runtime): Promise<Destination> {
  return openDestination(parseSpec(spec), context(rt, "destination"));
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
export const JSON_VERSION = 1;

export type JsonCommand = "list" | "plan" | "migrate" | "verify";

export function printJson(command: JsonCommand | string, body: Record<string, unknown>): void {
  process.stdout.write(
    redactText(JSON.stringify({ version: JSON_VERSION, command, ...body }, null, 2)) + "\n",
  );
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

/** Options of the state folder (journal and reports, issue 6), for migrate and verify. */
export interface StateOptions {
  state?: string;
  resetState?: boolean;
  report?: string;
  shard?: Shard;
  retryFailed?: boolean;
  recheckWait?: number;
  /** migrate --verify-content */
  verifyContent?: boolean;
  /** verify --content */
  content?: boolean;
}

export const DEFAULT_STATE_DIR = ".pyreg";

export function addStateOptions(cmd: Command, forMigrate: boolean): Command {
  cmd
    .optionsGroup(HELP_GROUPS.state)
    .option(
      "--state <dir>",
      `state folder: the journal (resume) and report.json/report.md (default: one folder per source/destination pair and shard under ./${DEFAULT_STATE_DIR}/)`,
    )
    .option(
      "--reset-state",
      "start the state folder over when it belongs to another source/destination (the old journal is kept beside it)",
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

/**
 * The state folder: --state DIR, or by default one folder per source/destination pair (and shard)
 * under ./.pyreg/, so that migrations of several pairs from one working directory (or one CI
 * workspace) never share, or fight over, a journal. The folder name shows the pair and ends with a
 * hash of both identities.
 */
export function stateDirOf(opts: StateOptions, from: string, to: string): string {
  if (opts.state) return opts.state;
  const a = endpointOf(from);
  const b = endpointOf(to);
  const hash = createHash("sha256").update(`${a.key}\n${b.key}`).digest("hex").slice(0, 10);
  const shard = opts.shard ? `-shard-${opts.shard.index}-of-${opts.shard.count}` : "";
  return join(DEFAULT_STATE_DIR, `${slug(a.key)}-to-${slug(b.key)}-${hash}${shard}`);
}

function slug(key: string): string {
  const body = key.replace(/^[a-z0-9-]+\+[a-z]+:\/\//, "").replace(/^[a-z0-9-]+:/, "");
  const parts = body.split(/[/\\]+/).filter(Boolean);
  // The host (URLs) or the last folder name (paths): enough to recognize it, short enough to read.
  const pick =
    /^https?:/.test(key) || key.includes("+http") ? (parts[0] ?? "") : (parts[parts.length - 1] ?? "");
  return (
    pick
      .toLowerCase()
      .replace(/[^a-z0-9.]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 40) || "root"
  );
}

/**
 * A registry's stable identity for the journal: kind + URL without credentials, query or fragment
 * (so a new password or token is the same registry), or the absolute folder path.
 */
export function endpointOf(raw: string): Endpoint {
  const spec = parseSpec(raw);
  if (spec.url) {
    const u = new URL(spec.url.toString());
    u.username = "";
    u.password = "";
    u.search = "";
    u.hash = "";
    const path = u.pathname.endsWith("/") ? u.pathname : `${u.pathname}/`;
    return {
      key: `${spec.forcedKind ?? "url"}+${u.protocol}//${u.host.toLowerCase()}${path}`,
      description: spec.display,
    };
  }
  return { key: `${spec.forcedKind ?? "folder"}:${spec.path ?? spec.raw}`, description: spec.display };
}

/** The command line as recorded in journals and reports: every credential replaced by ***. */
export function redactArgv(argv: readonly string[]): string[] {
  return argv.map((arg) => {
    const eq = /^(--[a-z-]+=)(.*)$/s.exec(arg);
    const [prefix, value] = eq ? [eq[1] as string, eq[2] as string] : ["", arg];
    // userinfo (user:password@ or token@, split at the last @ as pip does) and secret-looking query
    // parameters; the rest kept as typed.
    const v = redactUserinfo(value, true).replace(
      /([?&][^=&\s]*(?:token|key|secret|password|signature|credential)[^=&\s]*=)[^&\s]*/gi,
      "$1***",
    );
    return prefix + redactText(v);
  });
}
