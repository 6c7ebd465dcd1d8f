/** What every command shares: options, the HTTP client, opening registries, output streams. */
import { Option, type Command } from "commander";
import { PyregError } from "../core/errors.js";
import type { Destination, Source } from "../core/model.js";
import { HttpClient } from "../http/client.js";
import { redactText } from "../http/redact.js";
import { openDestination, openSource } from "../registries/index.js";
import { parseSpec } from "../registries/spec.js";
import type { RegistryContext, RegistryOptions, Side } from "../registries/types.js";

export interface CommonOptions {
  include: string[];
  exclude: string[];
  concurrency: number;
  json: boolean;
  quiet: boolean;
  toIndex?: string;
  allowForeignFileHosts?: boolean;
  insecure?: boolean;
  caBundle?: string;
  timeout: number;
  retries: number;
  excludeSubgroups?: boolean;
  gitlabStatuses?: string;
  createRepository?: boolean;
  location?: string;
  description?: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
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

export const DEFAULT_CONCURRENCY = 8;

/** Options for selecting projects and for output, shared by list/plan/migrate/verify. */
export function addSelectionOptions(cmd: Command): Command {
  return cmd
    .option("--include <glob>", "only projects whose normalized name matches (repeatable)", collect, [])
    .option("--exclude <glob>", "skip projects whose normalized name matches (repeatable)", collect, [])
    .option("--json", "print a machine-readable result on stdout (human text goes to stderr)", false)
    .option("-q, --quiet", "only errors and the final summary on stderr", false);
}

/** Options for talking to registries. */
export function addConnectionOptions(cmd: Command, withDestination: boolean): Command {
  cmd
    .option(
      "--concurrency <n>",
      "files (and project listings) in flight at once",
      positiveInt("--concurrency", 256),
      DEFAULT_CONCURRENCY,
    )
    .option("--timeout <seconds>", "connect/read timeout per request", positiveInt("--timeout", 3600), 60)
    .option(
      "--retries <n>",
      "retries of a failed idempotent request (GET), with backoff",
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 20)
          throw new PyregError("USAGE", `--retries takes 0 to 20, not "${v}"`);
        return n;
      },
      5,
    )
    .option("--ca-bundle <file>", "trust this CA bundle (PEM) for TLS, e.g. for a self-managed registry")
    .option("--insecure", "do NOT verify TLS certificates (warned; for throw-away tests only)")
    .option(
      "--allow-foreign-file-hosts",
      "fetch files whose URL is on another host than the index (never with credentials)",
    )
    .option("--exclude-subgroups", "GitLab group source: leave out the subgroups' projects")
    .addOption(
      new Option(
        "--gitlab-statuses <list>",
        "GitLab source: package statuses to copy, comma-separated",
      ).default("default"),
    );
  if (withDestination) {
    cmd
      .option(
        "--to-index <url>",
        "the destination's simple index (default: the upload URL + simple/, or known per registry)",
      )
      .option(
        "--create-repository",
        "Google Artifact Registry: create the destination repository if it does not exist",
      )
      .option("--location <region>", "Google Artifact Registry: location for --create-repository")
      .option("--description <text>", "Google Artifact Registry: description for --create-repository");
  }
  return cmd;
}

export interface Runtime {
  http: HttpClient;
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
    retry: { retries: opts.retries },
    timeouts: {
      connectMs: Math.min(opts.timeout, 30) * 1000,
      headersMs: opts.timeout * 1000,
      bodyIdleMs: opts.timeout * 1000,
    },
    connectionsPerHost: Math.max(opts.concurrency, 4),
    insecure: opts.insecure ?? false,
    caFile: opts.caBundle,
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
    excludeSubgroups: opts.excludeSubgroups,
    gitlabStatuses: (opts.gitlabStatuses ?? "default")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    createRepository: opts.createRepository,
    location: opts.location,
    description: opts.description,
  };
  void env;
  return { http, log, warn, options, close: () => http.close() };
}

export function context(rt: Runtime, side: Side, env: NodeJS.ProcessEnv = process.env): RegistryContext {
  return { http: rt.http, side, env, options: rt.options, log: rt.warn };
}

export async function openFrom(spec: string, rt: Runtime): Promise<Source> {
  return openSource(parseSpec(spec), context(rt, "source"));
}

export async function openTo(spec: string, rt: Runtime): Promise<Destination> {
  return openDestination(parseSpec(spec), context(rt, "destination"));
}

export function printJson(value: unknown): void {
  process.stdout.write(redactText(JSON.stringify(value, null, 2)) + "\n");
}

export function human(opts: { json: boolean }, text: string): void {
  // With --json, stdout is reserved for the JSON document.
  (opts.json ? process.stderr : process.stdout).write(redactText(text) + "\n");
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
