/**
 * GitLab as a source: through the REST packages API when the token allows it (statuses, projects,
 * sizes and sha256 of every file), else through the PyPI simple index with Basic auth.
 *
 * Statuses (gitlabhq app/models/packages/package.rb): default, hidden, processing, error,
 * pending_destruction, deprecated. The package list without `status` returns the "displayable" ones
 * (default, error, deprecated in current GitLab); the others are only listed when asked for by
 * `status=` (doc/api/packages.md), so pyreg asks for hidden, processing and pending_destruction too,
 * so that every package shows up in the plan with its status.
 * The simple index serves the "installable" packages (default, hidden, deprecated) and never the
 * others: through it, statuses are not visible.
 */
import type { Readable } from "node:stream";
import { PyregError } from "../../core/errors.js";
import type { DistFile, Source } from "../../core/model.js";
import { normalizeName } from "../../core/names.js";
import type { HttpClient } from "../../http/client.js";
import { originOf } from "../../http/credentials.js";
import { redactUrl } from "../../http/redact.js";
import { paginate, packageFileSchema, packageRowSchema, type PackageFileRow } from "./api.js";
import { basicProviderFor, kindName, scopeHint, type GitLabCredentials } from "./auth.js";
import { GitLabIndexReader } from "./simpleIndex.js";
import type { GitLabTarget } from "./locate.js";

/** What GitLab itself lets pip install (INSTALLABLE_STATUSES): the default policy. */
export const DEFAULT_STATUSES = ["default", "deprecated", "hidden"] as const;
export const ALL_STATUSES = [
  "default",
  "hidden",
  "processing",
  "error",
  "pending_destruction",
  "deprecated",
] as const;
/** Statuses the unfiltered list does not return and that must be asked for by name. */
const EXTRA_STATUS_SCANS = ["hidden", "processing", "pending_destruction"] as const;

interface PackageRef {
  id: number;
  projectId: number;
  projectPath: string;
  name: string;
  version: string;
  status: string;
}

export interface GitLabSourceOptions {
  statuses: ReadonlySet<string>;
  excludeSubgroups: boolean;
  log: (m: string) => void;
}

function credsText(creds: GitLabCredentials | undefined): string {
  return creds ? `${kindName(creds.kind)} from ${creds.source}` : "no token";
}

/** Rewrites a 401/403 into one that says which token was tried and the scope needed. */
export function gitlabAuthError(
  err: unknown,
  creds: GitLabCredentials | undefined,
  need: "list" | "download" | "upload",
): unknown {
  if (err instanceof PyregError && err.code === "AUTH") {
    return new PyregError("AUTH", `GitLab: ${err.message}`, {
      method: err.method,
      url: err.url,
      status: err.status,
      serverAnswer: err.serverAnswer,
      hint: scopeHint(creds?.kind ?? "none", need),
    });
  }
  return err;
}

export class GitLabRestSource implements Source {
  readonly kind = "gitlab";
  private index: Promise<Map<string, PackageRef[]>> | undefined;
  private readonly registeredProjects = new Set<number>();

  constructor(
    readonly http: HttpClient,
    readonly target: GitLabTarget,
    readonly creds: GitLabCredentials | undefined,
    readonly opts: GitLabSourceOptions,
  ) {}

  describe(): string {
    const t = this.target;
    return `GitLab ${t.kind} ${t.fullPath} at ${redactUrl(t.apiRoot)} via the REST packages API (${credsText(this.creds)}; statuses copied: ${[...this.opts.statuses].join(", ")})`;
  }

  private listUrl(status: string | undefined): string {
    const t = this.target;
    const u = new URL(
      t.kind === "group" ? `${t.apiRoot}/groups/${t.id}/packages` : `${t.apiRoot}/projects/${t.id}/packages`,
    );
    u.searchParams.set("package_type", "pypi");
    u.searchParams.set("order_by", "created_at");
    u.searchParams.set("sort", "asc");
    if (t.kind === "group" && this.opts.excludeSubgroups) u.searchParams.set("exclude_subgroups", "true");
    if (status) u.searchParams.set("status", status);
    return u.toString();
  }

  private loadIndex(): Promise<Map<string, PackageRef[]>> {
    if (!this.index) {
      this.index = this.scan();
      this.index.catch(() => (this.index = undefined));
    }
    return this.index;
  }

  /** Reads the package list page by page, keeping one small record per package. */
  private async scan(): Promise<Map<string, PackageRef[]>> {
    const byName = new Map<string, PackageRef[]>();
    const seen = new Set<number>();
    let rows = 0;
    for (const status of [undefined, ...EXTRA_STATUS_SCANS]) {
      try {
        for await (const page of paginate(this.http, this.listUrl(status), packageRowSchema, {
          label: "GitLab API",
          what: "the package list",
        })) {
          for (const r of page) {
            if (r.package_type !== "pypi" || seen.has(r.id)) continue;
            seen.add(r.id);
            if (!r.version) {
              this.opts.log(`GitLab: package ${r.name} (id ${r.id}) has no version; skipped`);
              continue;
            }
            const projectId =
              r.project_id ?? (this.target.kind === "project" ? Number(this.target.id) : undefined);
            if (projectId === undefined) {
              throw new PyregError(
                "MALFORMED_INDEX",
                `GitLab API: package ${r.name} ${r.version} (id ${r.id}) has no project_id`,
                {
                  url: redactUrl(this.listUrl(status)),
                },
              );
            }
            const key = normalizeName(r.name);
            const ref: PackageRef = {
              id: r.id,
              projectId,
              projectPath:
                r.project_path ?? (this.target.kind === "project" ? this.target.fullPath : String(projectId)),
              name: r.name,
              version: r.version,
              status: r.status ?? "default",
            };
            const list = byName.get(key);
            if (list) list.push(ref);
            else byName.set(key, [ref]);
            rows++;
          }
        }
      } catch (err) {
        // Older GitLab knows fewer status values and answers 400 for the others: nothing of that
        // status can exist there.
        if (status && err instanceof PyregError && err.status === 400) {
          this.opts.log(
            `GitLab: this instance does not filter by status "${status}" (HTTP 400); no such packages listed`,
          );
          continue;
        }
        throw gitlabAuthError(err, this.creds, "list");
      }
    }
    this.opts.log(
      `GitLab: ${rows} PyPI package versions in ${byName.size} project names under ${this.target.fullPath}`,
    );
    return byName;
  }

  async listProjects(): Promise<string[]> {
    return [...(await this.loadIndex()).keys()].sort();
  }

  private registerProject(projectId: number): void {
    if (!this.creds || this.registeredProjects.has(projectId)) return;
    this.registeredProjects.add(projectId);
    this.http.credentials.add(
      `${this.target.apiRoot}/projects/${projectId}/packages/pypi`,
      basicProviderFor(this.creds),
    );
  }

  private async filesOf(ref: PackageRef): Promise<PackageFileRow[]> {
    const out: PackageFileRow[] = [];
    try {
      for await (const page of paginate(
        this.http,
        `${this.target.apiRoot}/projects/${ref.projectId}/packages/${ref.id}/package_files`,
        packageFileSchema,
        { label: "GitLab API", what: "the package file list" },
      )) {
        out.push(...page);
      }
    } catch (err) {
      // A package deleted between the listing and now: its files are gone (pending_destruction).
      if (err instanceof PyregError && err.code === "NOT_FOUND") {
        this.opts.log(`GitLab: package ${ref.name} ${ref.version} (id ${ref.id}) disappeared while listing`);
        return [];
      }
      throw gitlabAuthError(err, this.creds, "list");
    }
    return out;
  }

  async listFiles(project: string): Promise<DistFile[]> {
    const refs = (await this.loadIndex()).get(normalizeName(project)) ?? [];
    const perRef = await mapLimit(refs, 4, (ref) => this.filesOf(ref));
    const out: DistFile[] = [];
    const byFilename = new Map<string, DistFile>();
    // Files of copied statuses first, so a same-named file of a filtered package never displaces one.
    const order = refs.map((_, i) => i);
    order.sort(
      (a, b) =>
        Number(!this.opts.statuses.has(refs[a]!.status)) - Number(!this.opts.statuses.has(refs[b]!.status)),
    );
    for (const i of order) {
      const ref = refs[i] as PackageRef;
      // Within one package, a re-uploaded filename keeps GitLab's newest file (its download finder
      // takes the last one).
      const newest = new Map<string, PackageFileRow>();
      for (const f of perRef[i] ?? []) {
        const prev = newest.get(f.file_name);
        if (!prev || prev.id < f.id) newest.set(f.file_name, f);
      }
      for (const f of newest.values()) {
        const file = this.toDistFile(ref, f);
        const prev = byFilename.get(file.filename);
        if (prev) {
          // The same filename in two projects of the group: a registry can hold only one.
          if (prev.hashes["sha256"] && prev.hashes["sha256"] === file.hashes["sha256"]) continue;
          file.notes = {
            ...file.notes,
            filtered: `same filename also in GitLab project ${prev.notes?.["gitlabProject"] ?? "?"} with another sha256; the first one is copied`,
          };
          out.push(file);
          continue;
        }
        byFilename.set(file.filename, file);
        out.push(file);
      }
    }
    return out;
  }

  private toDistFile(ref: PackageRef, f: PackageFileRow): DistFile {
    this.registerProject(ref.projectId);
    const sha =
      f.file_sha256 && /^[0-9a-f]{64}$/i.test(f.file_sha256) ? f.file_sha256.toLowerCase() : undefined;
    const notes: Record<string, string> = { gitlabStatus: ref.status, gitlabProject: ref.projectPath };
    if (!this.opts.statuses.has(ref.status)) notes["filtered"] = `gitlab status ${ref.status}`;
    else if (!sha)
      notes["filtered"] = "GitLab has no sha256 for this file, and its PyPI download URL needs one";
    return {
      project: normalizeName(ref.name),
      displayName: ref.name,
      version: ref.version,
      filename: f.file_name,
      url: `${this.target.apiRoot}/projects/${ref.projectId}/packages/pypi/files/${sha ?? "missing-sha256"}/${encodeURIComponent(f.file_name)}`,
      hashes: sha ? { sha256: sha } : {},
      size: f.size ?? undefined,
      uploadTime: f.created_at ?? undefined,
      notes,
    };
  }

  async open(file: DistFile): Promise<Readable> {
    if (originOf(file.url) !== originOf(this.target.apiRoot)) {
      throw new PyregError(
        "UNSAFE_URL",
        `${file.filename}: ${redactUrl(file.url)} is not on the GitLab host`,
      );
    }
    // A file planned in an earlier run is opened without being listed again: scope Basic to it too.
    const pid = /\/projects\/(\d+)\/packages\/pypi\/files\//.exec(new URL(file.url).pathname)?.[1];
    if (pid) this.registerProject(Number(pid));
    try {
      return (await this.http.stream(file.url, { label: "GitLab" })).body;
    } catch (err) {
      throw gitlabAuthError(err, this.creds, "download");
    }
  }
}

/** The simple-index path (deploy tokens, job tokens on groups): what pip would see. */
export class GitLabSimpleSource implements Source {
  readonly kind = "gitlab";
  readonly reader: GitLabIndexReader;

  constructor(
    readonly http: HttpClient,
    readonly target: GitLabTarget,
    readonly creds: GitLabCredentials | undefined,
    log: (m: string) => void,
  ) {
    const t = target;
    const index =
      t.kind === "group"
        ? `${t.apiRoot}/groups/${t.id}/-/packages/pypi/simple/`
        : `${t.apiRoot}/projects/${t.id}/packages/pypi/simple/`;
    this.reader = new GitLabIndexReader(http, index, {
      label: "GitLab simple index",
      warn: log,
      allowForeignFileHosts: false,
    });
  }

  describe(): string {
    const t = this.target;
    return `GitLab ${t.kind} ${t.fullPath} at ${redactUrl(t.apiRoot)} via the PyPI simple index ${redactUrl(this.reader.indexUrl)} (${credsText(this.creds)}; ${t.restRefused ?? "REST not used"}; package statuses not visible: GitLab serves default, deprecated and hidden packages there)`;
  }

  async listProjects(): Promise<string[]> {
    try {
      return (await this.reader.listProjects()).sort();
    } catch (err) {
      throw gitlabAuthError(err, this.creds, "download");
    }
  }

  async listFiles(project: string): Promise<DistFile[]> {
    let files: DistFile[];
    try {
      files = await this.reader.listFiles(project);
    } catch (err) {
      throw gitlabAuthError(err, this.creds, "download");
    }
    const home = originOf(this.target.apiRoot);
    return files.map((f) =>
      originOf(f.url) === home
        ? { ...f, notes: { ...f.notes, gitlabIndex: "simple" } }
        : // The group endpoint can forward unknown names to pypi.org: such a file is not GitLab's.
          { ...f, notes: { ...f.notes, filtered: `file URL leaves the GitLab host (${originOf(f.url)})` } },
    );
  }

  pageStamp(project: string): Promise<string | undefined> {
    return this.reader.pageStamp(project);
  }

  async open(file: DistFile): Promise<Readable> {
    try {
      return await this.reader.open(file);
    } catch (err) {
      throw gitlabAuthError(err, this.creds, "download");
    }
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(workers);
  return out;
}
