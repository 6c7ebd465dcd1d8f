/**
 * What the use-cases share: their options, the runtime they open (HTTP client, registries, with
 * progress and messages sent as events), the selection rules, and the state folder's location.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { PyregError } from "../errors.js";
import type { Endpoint } from "../journal.js";
import type { Shard } from "../shard.js";
import type { Destination, Source } from "../model.js";
import { HttpClient, type RequestLog } from "../../http/client.js";
import { redactText, redactUserinfo } from "../../http/redact.js";
import { proxySettings } from "../../http/proxy.js";
import type { CredentialHints } from "../../registries/auth.js";
import type { KeyringProvider } from "../../registries/keyring.js";
import type { PypircRepository } from "../../registries/pypirc.js";
import { openDestination, openSource } from "../../registries/index.js";
import { parseSpec } from "../../registries/spec.js";
import type { RegistryContext, RegistryOptions, Side } from "../../registries/types.js";
import { rulesFrom, Selection } from "../select/index.js";
import { readPins } from "../select/locks.js";
import type { PyregEvent } from "./events.js";

export const DEFAULT_CONCURRENCY = 8;

/** How registries are reached, and which files: the CLI's options, same names and units. */
export interface RunOptions extends SelectionFlags {
  concurrency: number;
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

export interface Runtime {
  http: HttpClient;
  /** Credential sources per side from the command line (.pypirc section, keyring provider). */
  credentials: Record<Side, CredentialHints>;
  log: (message: string) => void;
  warn: (message: string) => void;
  options: RegistryOptions;
  close(): Promise<void>;
}

/** Opens the runtime: messages, retries and (with `verbose`) each HTTP request are sent to `emit`. */
export function openRuntime(
  opts: RunOptions,
  emit: (e: PyregEvent) => void,
  env: NodeJS.ProcessEnv = process.env,
): Runtime {
  const log = (m: string): void => emit({ type: "log", message: redactText(m) });
  const warn = (m: string): void => emit({ type: "warning", message: redactText(m) });
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
    ...(opts.verbose ? { onRequest: (r: RequestLog) => emit({ type: "http-request", request: r }) } : {}),
    onRetry: (i) =>
      emit({
        type: "http-retry",
        method: i.method,
        url: redactText(i.url),
        delayMs: i.delayMs,
        reason: redactText(i.reason),
        attempt: i.attempt,
      }),
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

/** Options of the state folder (journal and reports), for migrate and verify. */
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

/**
 * Runs `work` until the signal is aborted: then the connections are closed at once (the work left
 * behind fails on them) and an INTERRUPTED error is thrown, which the use-case resolves as
 * "interrupted".
 */
export async function untilAborted<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  rt: Runtime,
  interruption = new PyregError("INTERRUPTED", "interrupted"),
  /** Called once the interruption is decided, before the connections are closed. */
  onInterrupted?: () => void,
): Promise<T> {
  if (!signal) return work;
  let stop = (): void => undefined;
  const stopped = new Promise<never>((_, reject) => {
    stop = () => reject(interruption);
  });
  if (signal.aborted) stop();
  else signal.addEventListener("abort", stop, { once: true });
  try {
    return await Promise.race([work, stopped]);
  } catch (err) {
    if (err === interruption) {
      work.catch(() => undefined);
      onInterrupted?.();
      await rt.http.destroy();
    }
    throw err;
  } finally {
    signal.removeEventListener("abort", stop);
  }
}

/** The defaults of the options a library caller may leave out (the CLI's defaults). */
export const RUN_DEFAULTS = {
  concurrency: DEFAULT_CONCURRENCY,
  timeout: 60,
  deadline: 300,
  retries: 5,
  retryDelay: 250,
  retryMaxDelay: 15_000,
  maxRetryAfter: 120,
  include: [] as string[],
  exclude: [] as string[],
};

type Defaulted = keyof typeof RUN_DEFAULTS;

/** A use-case's options as a library caller gives them: those with a default may be left out. */
export type WithDefaults<T extends RunOptions> = Omit<T, Defaulted> & Partial<Pick<RunOptions, Defaulted>>;

/** Fills in the defaults of the options left out (or undefined). */
export function withDefaults<T extends RunOptions>(opts: WithDefaults<T>): T {
  const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  return { ...RUN_DEFAULTS, ...given } as unknown as T;
}
