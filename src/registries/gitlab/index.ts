/**
 * The GitLab kind: `gitlab+https://HOST[/RELATIVE_ROOT]/PATH` (also `gitlab+http://` for local use),
 * and plain `https://gitlab.com/PATH` web URLs (not API URLs: `https://gitlab.com/api/v4/.../simple/`
 * stays a generic simple index). PATH is a group (every project in it, subgroups included unless
 * --exclude-subgroups) or a project; the API tells which (see locate.ts).
 *
 * Source: source.ts. Destination: a project's PyPI upload endpoint and its simple index
 * (gitlabhq lib/api/pypi_packages.rb; app/services/packages/pypi/create_package_service.rb).
 */
import { PyregError } from "../../core/errors.js";
import type { Readable } from "node:stream";
import type { CoreMetadata, Destination, DistFile, LocalDist, UploadResult } from "../../core/model.js";
import { redactUrl } from "../../http/redact.js";
import { stripCredentials } from "../auth.js";
import { UploadDestination } from "../simple/index.js";
import type { RegistryContext, RegistryKind, RegistrySpec } from "../types.js";
import { basicProviderFor, kindName, resolveGitLabCredentials, type GitLabCredentials } from "./auth.js";
import { enc, locate, type GitLabTarget } from "./locate.js";
import { GitLabIndexReader } from "./simpleIndex.js";
import {
  ALL_STATUSES,
  DEFAULT_STATUSES,
  GitLabRestSource,
  GitLabSimpleSource,
  gitlabAuthError,
} from "./source.js";

/** GitLab's duplicate answer: 400 {"message":"Validation failed: File name has already been taken"}. */
export const GITLAB_EXISTS = /has already been taken/i;

/** Fields GitLab's upload endpoint reads (lib/api/pypi_packages.rb `post` params). */
export const GITLAB_UPLOAD_FIELDS = [
  "name",
  "version",
  "requires_python",
  "md5_digest",
  "sha256_digest",
  "metadata_version",
  "author_email",
  "description",
  "description_content_type",
  "summary",
  "keywords",
] as const;

/**
 * Makes sure the form carries what GitLab needs: name and version (required), sha256_digest (GitLab
 * stores it AS SENT and builds every download URL from it) and md5_digest, both from the bytes pyreg
 * hashed itself.
 */
export function gitlabFields(
  fields: [string, string][],
  meta: CoreMetadata,
  file: LocalDist,
): [string, string][] {
  const out = fields.filter(([k]) => k !== "sha256_digest" && k !== "md5_digest");
  const has = (k: string): boolean => out.some(([key]) => key === k);
  if (!has("name")) out.push(["name", meta.name]);
  if (!has("version")) out.push(["version", meta.version]);
  if (!has("metadata_version")) out.push(["metadata_version", meta.metadataVersion]);
  out.push(["sha256_digest", file.sha256.toLowerCase()], ["md5_digest", file.md5.toLowerCase()]);
  return out;
}

function statusesFrom(ctx: RegistryContext): Set<string> {
  const given = ctx.options.gitlabStatuses;
  if (!given || given.length === 0) return new Set(DEFAULT_STATUSES);
  const out = new Set<string>();
  for (const raw of given.flatMap((s) => s.split(","))) {
    const s = raw.trim().toLowerCase();
    if (!s) continue;
    if (s === "all") ALL_STATUSES.forEach((x) => out.add(x));
    else if ((ALL_STATUSES as readonly string[]).includes(s)) out.add(s);
    else {
      throw new PyregError("USAGE", `unknown GitLab package status "${raw}"`, {
        hint: `use a comma-separated list of ${ALL_STATUSES.join(", ")}, or "all"`,
      });
    }
  }
  return out;
}

function apiOverride(ctx: RegistryContext): string | undefined {
  const v = ctx.options["gitlabApi"];
  return typeof v === "string" && v ? v : undefined;
}

export function isGitLabWebUrl(url: URL | undefined): boolean {
  if (!url) return false;
  return (
    url.hostname.toLowerCase() === "gitlab.com" &&
    !/^\/api\//.test(url.pathname) &&
    url.pathname.split("/").filter(Boolean).length > 0
  );
}

/** A GitLab project's PyPI endpoint as an upload destination. */
export class GitLabDestination implements Destination {
  readonly kind = "gitlab";
  readonly needsMetadata = true;
  /**
   * GitLab stores the `sha256_digest` form field as sent and builds its index links from it
   * (gitlabhq/gitlabhq, app/services/packages/pypi/create_package_service.rb and
   * lib/api/pypi_packages.rb): a listing with the right digest does not show that the stored bytes
   * are right, so every upload is read back and hashed.
   */
  readonly indexEchoesClientDigest = true;
  readonly inner: UploadDestination;

  constructor(
    ctx: RegistryContext,
    readonly target: GitLabTarget,
    readonly creds: GitLabCredentials | undefined,
  ) {
    const base = `${target.apiRoot}/projects/${target.id}/packages/pypi`;
    const reader = new GitLabIndexReader(ctx.http, `${base}/simple/`, {
      label: "GitLab destination index",
      warn: ctx.log,
    });
    this.inner = new UploadDestination(ctx.http, base, reader, {
      kind: "gitlab",
      label: "GitLab upload",
      existsAnswer: GITLAB_EXISTS,
      adjustFields: gitlabFields,
    });
  }

  describe(): string {
    const c = this.creds ? `${kindName(this.creds.kind)} from ${this.creds.source}` : "no token";
    return `GitLab project ${this.target.fullPath} at ${redactUrl(this.target.apiRoot)}, PyPI endpoint ${redactUrl(this.inner.uploadUrl)} (${c})`;
  }

  async listFiles(project: string): Promise<Map<string, DistFile>> {
    try {
      return await this.inner.listFiles(project);
    } catch (err) {
      throw gitlabAuthError(err, this.creds, "download");
    }
  }

  invalidate(project: string): void {
    this.inner.invalidate(project);
  }

  pageStamp(project: string): Promise<string | undefined> {
    return this.inner.pageStamp(project);
  }

  async open(file: DistFile): Promise<Readable> {
    try {
      return await this.inner.open(file);
    } catch (err) {
      throw gitlabAuthError(err, this.creds, "download");
    }
  }

  async upload(file: LocalDist, meta: CoreMetadata, source: DistFile): Promise<UploadResult> {
    try {
      return await this.inner.upload(file, meta);
    } catch (err) {
      void source;
      throw gitlabAuthError(err, this.creds, "upload");
    }
  }
}

export const gitlabKind: RegistryKind = {
  name: "gitlab",
  help: "gitlab+https://HOST[/ROOT]/GROUP[/SUB...][/PROJECT] (or https://gitlab.com/PATH) — a GitLab group or project (source), a project (destination)",
  matches: (spec: RegistrySpec) =>
    spec.forcedKind === "gitlab" || (!spec.forcedKind && isGitLabWebUrl(spec.url)),

  async openSource(spec: RegistrySpec, ctx: RegistryContext) {
    const url = requireUrl(spec);
    const creds = resolveGitLabCredentials(url, ctx.side, ctx.env, ctx.credentials);
    const statuses = statusesFrom(ctx);
    const { target } = await locate(ctx.http, stripCredentials(url), creds, {
      label: "GitLab API",
      log: ctx.log,
      apiOverride: apiOverride(ctx),
    });
    if (creds) {
      const pypi =
        target.kind === "group"
          ? `${target.apiRoot}/groups/${target.id}/-/packages/pypi`
          : `${target.apiRoot}/projects/${target.id}/packages/pypi`;
      ctx.http.credentials.add(pypi, basicProviderFor(creds));
    }
    if (target.via === "rest") {
      return new GitLabRestSource(ctx.http, target, creds, {
        statuses,
        excludeSubgroups: ctx.options.excludeSubgroups === true,
        log: ctx.log,
      });
    }
    if (ctx.options.excludeSubgroups) {
      ctx.log(
        "GitLab: --exclude-subgroups cannot apply through the group simple index (it always includes subgroups)",
      );
    }
    return new GitLabSimpleSource(ctx.http, target, creds, ctx.log);
  },

  async openDestination(spec: RegistrySpec, ctx: RegistryContext) {
    const url = requireUrl(spec);
    const creds = resolveGitLabCredentials(url, ctx.side, ctx.env, ctx.credentials);
    const { target } = await locate(ctx.http, stripCredentials(url), creds, {
      label: "GitLab API",
      log: ctx.log,
      apiOverride: apiOverride(ctx),
      wantProject: true,
      narrow: true,
    });
    if (target.kind !== "project") {
      throw new PyregError("USAGE", `${spec.display} is a GitLab group; packages are uploaded to a project`, {
        hint: "give the project to upload to, e.g. gitlab+https://HOST/GROUP/PROJECT",
      });
    }
    if (creds) {
      ctx.http.credentials.add(
        `${target.apiRoot}/projects/${target.id}/packages/pypi`,
        basicProviderFor(creds),
      );
      ctx.http.credentials.add(
        `${target.apiRoot}/projects/${enc(target.fullPath)}/packages/pypi`,
        basicProviderFor(creds),
      );
    }
    return new GitLabDestination(ctx, target, creds);
  },
};

function requireUrl(spec: RegistrySpec): URL {
  if (!spec.url) {
    throw new PyregError("USAGE", `${spec.display}: a GitLab registry is a URL`, {
      hint: "write gitlab+https://HOST/GROUP[/PROJECT]",
    });
  }
  return spec.url;
}
