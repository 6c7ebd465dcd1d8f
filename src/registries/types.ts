/** What every registry kind plugs into: one entry per kind in src/registries/index.ts. */
import type { HttpClient } from "../http/client.js";
import type { CredentialHints } from "./auth.js";
import type { Destination, Source } from "../core/model.js";

export type Side = "source" | "destination";

export interface RegistryOptions {
  /** --to-index: the destination's simple index when it cannot be derived. */
  toIndex?: string | undefined;
  /** --from-index / generic: the simple index of an upload-style source. */
  fromIndex?: string | undefined;
  /** GitLab: --exclude-subgroups. */
  excludeSubgroups?: boolean | undefined;
  /** GitLab: which package statuses are copied (default: "default"). */
  gitlabStatuses?: string[] | undefined;
  /** GAR: --create-repository, --location, --description. */
  createRepository?: boolean | undefined;
  location?: string | undefined;
  description?: string | undefined;
  /** Allow file URLs on hosts other than the index's (never with credentials). */
  allowForeignFileHosts?: boolean | undefined;
  /** Folder destination: copy files whose archive or metadata cannot be read (checked by default). */
  allowBrokenArchives?: boolean | undefined;
  /** Anything else a kind wants from the command line. */
  [key: string]: unknown;
}

export interface RegistryContext {
  http: HttpClient;
  side: Side;
  env: NodeJS.ProcessEnv;
  options: RegistryOptions;
  /** Credential sources from the command line (.pypirc section, keyring provider). */
  credentials?: CredentialHints | undefined;
  /** Human-readable progress/info line (goes to stderr). */
  log: (message: string) => void;
  /**
   * The clock token caches read to decide when a token is about to expire (epoch ms; default
   * Date.now). Tests drive it instead of waiting for real time to pass.
   */
  now?: (() => number) | undefined;
}

export interface RegistrySpec {
  /** The text the user gave, credentials included: never print it; use `display`. */
  raw: string;
  /** Explicit kind prefix ("gitlab" for gitlab+https://...), if any. */
  forcedKind?: string | undefined;
  /** The URL without the kind prefix (http/https/file), for URL specs. */
  url?: URL | undefined;
  /** A local path, for folder specs. */
  path?: string | undefined;
  /** Redacted form, safe to show. */
  display: string;
}

export interface RegistryKind {
  readonly name: string;
  /** One line for --help: what spec selects it. */
  readonly help: string;
  matches(spec: RegistrySpec): boolean;
  openSource?(spec: RegistrySpec, ctx: RegistryContext): Promise<Source>;
  openDestination?(spec: RegistrySpec, ctx: RegistryContext): Promise<Destination>;
}
