/**
 * A fake GitLab package registry on loopback, written from GitLab's documentation and source, that
 * records every request so tests can assert what pyreg sent.
 *
 * Sources (gitlabhq/gitlabhq):
 * - doc/api/packages.md, lib/api/group_packages.rb, lib/api/project_packages.rb: package lists with
 *   `package_type`, `status` (absent → the "displayable" statuses), `exclude_subgroups`, `order_by`;
 *   lib/api/package_files.rb + lib/api/entities/package_file.rb: file rows with `file_sha256`.
 * - lib/api/entities/package.rb: row fields (`project_id`/`project_path` only in group lists).
 * - app/models/packages/package.rb: statuses default/hidden/processing/error/pending_destruction/
 *   deprecated; DISPLAYABLE_STATUSES = default, error, deprecated; INSTALLABLE_STATUSES = default,
 *   hidden, deprecated.
 * - doc/api/rest/_index.md "Pagination": `page` from 1, `per_page` default 20 max 100, headers
 *   x-page/x-per-page/x-next-page/x-prev-page/x-total/x-total-pages and `Link` (prev/next/first/last);
 *   past 10,000 records x-total, x-total-pages and rel="last" are omitted.
 * - lib/api/pypi_packages.rb: the PyPI endpoints (Basic auth only: any user + access token, deploy
 *   token user + token, `gitlab-ci-token` + job token); `simple`, `simple/*package_name`,
 *   `files/:sha256/*file_identifier` for groups (`/groups/:id/-/packages/pypi/...`) and projects;
 *   unknown names forwarded (redirect) when package forwarding is on; upload `POST
 *   /projects/:id/packages/pypi` requires content, name, version; sha256_digest must match
 *   Gitlab::Regex.sha256_regex; 201 on success; a repeated filename is a 400 "400 Bad request -
 *   Validation failed: File name has already been taken" (its sources are quoted at the answer, in
 *   `upload`); app/services/packages/pypi/create_package_service.rb stores
 *   `file_sha256: params[:sha256_digest]` and `file_md5: params[:md5_digest]` AS SENT.
 * - app/presenters/packages/pypi/simple_presenter_base.rb, simple_index_presenter.rb,
 *   simple_package_versions_presenter.rb: the HTML (`<a href="URL#sha256=..."
 *   data-requires-python="...">name</a>`, links built from the stored file_sha256).
 * - doc/user/packages/pypi_repository/_index.md: which tokens and scopes work where.
 * - doc/administration/settings/user_and_ip_rate_limits.md: 429 with Retry-After and RateLimit-*
 *   headers (RateLimit-Reset is a Unix time there).
 * REST authentication: PRIVATE-TOKEN or `Authorization: Bearer` (access tokens), JOB-TOKEN on the
 * project-level package routes only; Basic is not read by the REST routes; an unknown token is a 401;
 * private groups and projects are a 404 to anyone who cannot see them.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { basename } from "node:path";
import { listenLoopback, type Loopback } from "./loopback.js";

export const STATUSES = [
  "default",
  "hidden",
  "processing",
  "error",
  "pending_destruction",
  "deprecated",
] as const;
export type Status = (typeof STATUSES)[number];
const DISPLAYABLE: readonly string[] = ["default", "error", "deprecated"];
const INSTALLABLE: readonly string[] = ["default", "hidden", "deprecated"];

export interface FakeGroup {
  id: number;
  name: string;
  fullPath: string;
  parentId?: number | undefined;
}
export interface FakeProject {
  id: number;
  name: string;
  fullPath: string;
  groupId: number;
}
export interface FakeFile {
  id: number;
  packageId: number;
  fileName: string;
  data: Buffer;
  /** As stored: for uploads, the sha256_digest the client SENT (may be null or wrong). */
  sha256: string | null;
  md5: string | null;
  sha1: string;
  createdAt: string;
}
export interface StoredPypiFile {
  storedSha256: string | null;
  realSha256: string;
  storedMd5: string | null;
  realMd5: string;
  pkg: FakePackage;
}

export interface FakePackage {
  id: number;
  projectId: number;
  name: string;
  version: string;
  type: string;
  status: Status;
  requiresPython: string;
  createdAt: string;
  files: FakeFile[];
}

export interface RecordedRequest {
  method: string;
  /** Path after the relative root, e.g. /api/v4/groups/7/packages (encoded as sent). */
  path: string;
  query: Record<string, string>;
  status: number;
  auth: {
    privateToken: boolean;
    bearer: boolean;
    jobToken: boolean;
    basic: boolean;
    basicUser?: string | undefined;
  };
  /** Upload form fields (without the file), in order. */
  form?: [string, string][];
  fileName?: string;
  fileSha256?: string;
}

type Principal =
  | { kind: "pat"; token: string; scopes: string[] }
  | {
      kind: "deploy";
      username: string;
      scopes: string[];
      groupId?: number | undefined;
      projectId?: number | undefined;
    }
  | { kind: "job"; projectId: number }
  | { kind: "anonymous" };

export interface FakeGitLabOptions {
  /** A relative URL root such as "/gitlab" (doc/install/relative_url.md). */
  relativeRoot?: string;
  /** Send the pagination headers (default true). false: neither x-* nor Link. */
  paginationHeaders?: boolean;
  /** Above this many rows, x-total, x-total-pages and rel="last" are omitted (GitLab: 10,000). */
  totalsLimit?: number;
  /** Package forwarding: unknown names on the simple endpoints redirect to FORWARD/NAME/. */
  forwardTo?: string;
  /** pypi_max_file_size. */
  maxFileSize?: number;
  /**
   * What the storage keeps of an uploaded file (a broken object store, a proxy that rewrites
   * bodies): the index still lists the sha256_digest the client sent, as GitLab does.
   */
  storeBytes?: (data: Buffer) => Buffer;
}

const CREATED_BASE = Date.UTC(2024, 0, 1);

export class FakeGitLab {
  readonly requests: RecordedRequest[] = [];
  readonly groups: FakeGroup[] = [];
  readonly projects: FakeProject[] = [];
  readonly packages: FakePackage[] = [];
  private readonly pats = new Map<string, string[]>();
  private readonly deployTokens = new Map<
    string,
    Extract<Principal, { kind: "deploy" }> & { token: string }
  >();
  private readonly jobTokens = new Map<string, number>();
  private nextId = 1;
  private clock = 0;
  private rateLimited:
    { left: number; retryAfter: number; only?: "retry-after" | "ratelimit-reset" } | undefined;
  private server: Loopback | undefined;
  origin = "";
  readonly root: string;

  constructor(readonly opts: FakeGitLabOptions = {}) {
    this.root = (opts.relativeRoot ?? "").replace(/\/+$/, "");
  }

  /** `http://127.0.0.1:PORT[/root]` */
  get url(): string {
    return this.origin + this.root;
  }
  get apiRoot(): string {
    return `${this.url}/api/v4`;
  }

  async start(): Promise<this> {
    this.server = await listenLoopback(
      (req, res) => this.handle(req, res),
      (err, res) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: `500 Internal Server Error: ${String(err)}` }));
      },
    );
    this.server.server.keepAliveTimeout = 1000;
    this.origin = this.server.origin;
    return this;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  // ---------- seeding ----------

  addGroup(fullPath: string): FakeGroup {
    const parts = fullPath.split("/");
    const parentPath = parts.slice(0, -1).join("/");
    const parent = parentPath ? (this.groupByPath(parentPath) ?? this.addGroup(parentPath)) : undefined;
    const g: FakeGroup = {
      id: this.nextId++,
      name: parts[parts.length - 1] as string,
      fullPath,
      parentId: parent?.id,
    };
    this.groups.push(g);
    return g;
  }

  addProject(fullPath: string): FakeProject {
    const parts = fullPath.split("/");
    const groupPath = parts.slice(0, -1).join("/");
    const group = this.groupByPath(groupPath) ?? this.addGroup(groupPath);
    const p: FakeProject = {
      id: this.nextId++,
      name: parts[parts.length - 1] as string,
      fullPath,
      groupId: group.id,
    };
    this.projects.push(p);
    return p;
  }

  addPersonalToken(token: string, scopes: string[] = ["api"]): void {
    this.pats.set(token, scopes);
  }
  addDeployToken(
    username: string,
    token: string,
    scopes: string[],
    scope: { groupId?: number; projectId?: number },
  ): void {
    this.deployTokens.set(username, { kind: "deploy", username, token, scopes, ...scope });
  }
  addJobToken(token: string, projectId: number): void {
    this.jobTokens.set(token, projectId);
  }

  private tick(): string {
    return new Date(CREATED_BASE + this.clock++ * 1000).toISOString();
  }

  addPackage(
    projectId: number,
    p: { name: string; version: string; type?: string; status?: Status; requiresPython?: string },
  ): FakePackage {
    const pkg: FakePackage = {
      id: this.nextId++,
      projectId,
      name: p.name,
      version: p.version,
      type: p.type ?? "pypi",
      status: p.status ?? "default",
      requiresPython: p.requiresPython ?? "",
      createdAt: this.tick(),
      files: [],
    };
    this.packages.push(pkg);
    return pkg;
  }

  addFile(
    pkg: FakePackage,
    fileName: string,
    data: Buffer,
    sha256: string | null = sha(data, "sha256"),
  ): FakeFile {
    const f: FakeFile = {
      id: this.nextId++,
      packageId: pkg.id,
      fileName,
      data,
      sha256,
      md5: sha(data, "md5"),
      sha1: sha(data, "sha1"),
      createdAt: this.tick(),
    };
    pkg.files.push(f);
    return f;
  }

  /**
   * Loads real distribution files (e.g. from test/fixtures/dists.ts makeCorpus) into a project, one
   * package per name + version, as `twine upload` to GitLab would have made them.
   */
  async seedFromFiles(
    projectId: number,
    files: readonly { path: string; project: string; version: string; filename?: string; name?: string }[],
    opts: { status?: Status; requiresPython?: string } = {},
  ): Promise<FakePackage[]> {
    const out: FakePackage[] = [];
    for (const f of files) {
      const name = f.name ?? f.project;
      let pkg = out.find((p) => p.name === name && p.version === f.version);
      if (!pkg) {
        pkg = this.addPackage(projectId, {
          name,
          version: f.version,
          ...(opts.status ? { status: opts.status } : {}),
          ...(opts.requiresPython ? { requiresPython: opts.requiresPython } : {}),
        });
        out.push(pkg);
      }
      this.addFile(pkg, f.filename ?? basename(f.path), await readFile(f.path));
    }
    return out;
  }

  /** The next `count` requests are answered 429 (rack-attack style). */
  rateLimit(count: number, retryAfterSeconds = 1, only?: "retry-after" | "ratelimit-reset"): void {
    this.rateLimited = { left: count, retryAfter: retryAfterSeconds, ...(only ? { only } : {}) };
  }

  /**
   * Every stored PyPI file of a project: filename → the sha256 and md5 stored (as the client sent
   * them) and those of the bytes.
   */
  projectFiles(projectId: number): Map<string, StoredPypiFile> {
    const out = new Map<string, StoredPypiFile>();
    for (const p of this.packages.filter((p) => p.projectId === projectId && p.type === "pypi")) {
      for (const f of p.files) {
        out.set(f.fileName, {
          storedSha256: f.sha256,
          realSha256: sha(f.data, "sha256"),
          storedMd5: f.md5,
          realMd5: sha(f.data, "md5"),
          pkg: p,
        });
      }
    }
    return out;
  }

  requestsTo(re: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => re.test(r.path));
  }

  // ---------- lookups ----------

  groupByPath(path: string): FakeGroup | undefined {
    return this.groups.find((g) => g.fullPath.toLowerCase() === path.toLowerCase());
  }
  private groupByIdOrPath(id: string): FakeGroup | undefined {
    return /^\d+$/.test(id) ? this.groups.find((g) => g.id === Number(id)) : this.groupByPath(id);
  }
  private projectByIdOrPath(id: string): FakeProject | undefined {
    return /^\d+$/.test(id)
      ? this.projects.find((p) => p.id === Number(id))
      : this.projects.find((p) => p.fullPath.toLowerCase() === id.toLowerCase());
  }
  /** The group and its descendants' ids. */
  private groupTree(groupId: number, includeSubgroups = true): Set<number> {
    const out = new Set<number>([groupId]);
    if (!includeSubgroups) return out;
    let grew = true;
    while (grew) {
      grew = false;
      for (const g of this.groups) {
        if (g.parentId !== undefined && out.has(g.parentId) && !out.has(g.id)) {
          out.add(g.id);
          grew = true;
        }
      }
    }
    return out;
  }
  private projectsInGroup(groupId: number, includeSubgroups = true): FakeProject[] {
    const tree = this.groupTree(groupId, includeSubgroups);
    return this.projects.filter((p) => tree.has(p.groupId));
  }
  private topGroupOf(projectId: number): number | undefined {
    let g = this.groups.find((x) => x.id === this.projects.find((p) => p.id === projectId)?.groupId);
    while (g?.parentId !== undefined) g = this.groups.find((x) => x.id === g?.parentId);
    return g?.id;
  }

  /** Can this principal read packages of the project? */
  private canRead(who: Principal, project: FakeProject): boolean {
    switch (who.kind) {
      case "pat":
        return who.scopes.some((s) => s === "api" || s === "read_api");
      case "deploy":
        if (!who.scopes.includes("read_package_registry")) return false;
        if (who.projectId !== undefined) return who.projectId === project.id;
        return who.groupId !== undefined && this.groupTree(who.groupId).has(project.groupId);
      case "job":
        return this.topGroupOf(who.projectId) === this.topGroupOf(project.id);
      case "anonymous":
        return false;
    }
  }
  private canReadGroup(who: Principal, group: FakeGroup): boolean {
    switch (who.kind) {
      case "pat":
        return who.scopes.some((s) => s === "api" || s === "read_api");
      case "deploy":
        return (
          who.scopes.includes("read_package_registry") &&
          who.groupId !== undefined &&
          this.groupTree(who.groupId).has(group.id)
        );
      case "job": {
        const top = this.topGroupOf(who.projectId);
        return top !== undefined && this.groupTree(top).has(group.id);
      }
      case "anonymous":
        return false;
    }
  }
  private canWrite(who: Principal, project: FakeProject): boolean {
    switch (who.kind) {
      case "pat":
        return who.scopes.includes("api");
      case "deploy":
        return (
          who.scopes.includes("write_package_registry") &&
          (who.projectId === project.id ||
            (who.groupId !== undefined && this.groupTree(who.groupId).has(project.groupId)))
        );
      case "job":
        return who.projectId === project.id;
      case "anonymous":
        return false;
    }
  }

  // ---------- HTTP ----------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.origin);
    const rawPath = url.pathname;
    const headers = req.headers;
    const authz = typeof headers.authorization === "string" ? headers.authorization : "";
    let basicUser: string | undefined;
    let basicPass: string | undefined;
    if (/^basic /i.test(authz)) {
      const decoded = Buffer.from(authz.slice(6).trim(), "base64").toString("utf8");
      const i = decoded.indexOf(":");
      basicUser = i >= 0 ? decoded.slice(0, i) : decoded;
      basicPass = i >= 0 ? decoded.slice(i + 1) : "";
    }
    const path = this.root && rawPath.startsWith(this.root + "/") ? rawPath.slice(this.root.length) : rawPath;
    const rec: RecordedRequest = {
      method: req.method ?? "GET",
      path: this.root && !rawPath.startsWith(this.root + "/") ? rawPath : path,
      query: Object.fromEntries(url.searchParams),
      status: 0,
      auth: {
        privateToken: typeof headers["private-token"] === "string",
        bearer: /^bearer /i.test(authz),
        jobToken: typeof headers["job-token"] === "string",
        basic: basicUser !== undefined,
        basicUser,
      },
    };
    this.requests.push(rec);
    const send = (
      status: number,
      body: string | Buffer,
      type: string,
      extra: Record<string, string> = {},
    ): void => {
      rec.status = status;
      res.writeHead(status, {
        "content-type": type,
        "content-length": String(Buffer.byteLength(body)),
        ...extra,
      });
      res.end(body);
    };
    const json = (status: number, value: unknown, extra: Record<string, string> = {}): void =>
      send(status, JSON.stringify(value), "application/json", extra);

    if (this.rateLimited && this.rateLimited.left > 0) {
      this.rateLimited.left--;
      const s = this.rateLimited.retryAfter;
      const h: Record<string, string> = {
        "ratelimit-name": "throttle_authenticated_api",
        "ratelimit-limit": "60",
        "ratelimit-observed": "61",
        "ratelimit-remaining": "0",
      };
      if (this.rateLimited.only !== "ratelimit-reset") h["retry-after"] = String(s);
      if (this.rateLimited.only !== "retry-after") {
        h["ratelimit-reset"] = String(Math.ceil(Date.now() / 1000) + s);
        h["ratelimit-resettime"] = new Date(Date.now() + s * 1000).toUTCString();
      }
      req.resume();
      send(429, "Retry later\n", "text/plain", h);
      return;
    }

    // Outside the API (or outside the relative root): the web UI's HTML 404.
    if ((this.root && !rawPath.startsWith(this.root + "/")) || !path.startsWith("/api/v4/")) {
      req.resume();
      send(
        404,
        "<!DOCTYPE html><html><body><h1>404</h1><p>Page Not Found</p></body></html>",
        "text/html; charset=utf-8",
      );
      return;
    }
    const seg = path
      .slice("/api/v4/".length)
      .split("/")
      .map((s) => decodeURIComponent(s));

    // PyPI endpoints: Basic only.
    const pypiIdx = seg.indexOf("pypi");
    const isPypi = pypiIdx > 0 && seg[pypiIdx - 1] === "packages";
    if (isPypi) {
      const who = this.basicPrincipal(basicUser, basicPass);
      if (who === "invalid" || who.kind === "anonymous") {
        req.resume();
        json(
          401,
          { message: "401 Unauthorized" },
          { "www-authenticate": 'Basic realm="GitLab Packages Registry"' },
        );
        return;
      }
      if (who.kind === "pat" && !who.scopes.some((s) => s === "api" || s === "read_api")) {
        // lib/api/api_guard.rb: a token without the route's scope is a 403 insufficient_scope.
        req.resume();
        json(403, { error: "insufficient_scope", scope: "api read_api" });
        return;
      }
      await this.pypi(req, seg, who, rec, send, json, url);
      return;
    }
    req.resume();
    const who = this.restPrincipal(headers, seg);
    if (who === "invalid") {
      json(401, { message: "401 Unauthorized" });
      return;
    }
    if (who.kind === "pat" && !who.scopes.some((s) => s === "api" || s === "read_api")) {
      json(403, {
        error: "insufficient_scope",
        error_description: "The request requires higher privileges than provided by the access token.",
        scope: "api read_api",
      });
      return;
    }
    this.rest(req.method ?? "GET", seg, who, url, json);
  }

  /** REST: PRIVATE-TOKEN / Bearer for access tokens; JOB-TOKEN only on project package routes. */
  private restPrincipal(headers: IncomingMessage["headers"], seg: string[]): Principal | "invalid" {
    const pt = headers["private-token"];
    const authz = typeof headers.authorization === "string" ? headers.authorization : "";
    const token = typeof pt === "string" ? pt : /^bearer /i.test(authz) ? authz.slice(7).trim() : undefined;
    if (token !== undefined) {
      const scopes = this.pats.get(token);
      return scopes ? { kind: "pat", token, scopes } : "invalid";
    }
    const jt = headers["job-token"];
    if (typeof jt === "string") {
      const jobRoute = seg[0] === "projects";
      if (!jobRoute) return { kind: "anonymous" };
      const projectId = this.jobTokens.get(jt);
      return projectId !== undefined ? { kind: "job", projectId } : "invalid";
    }
    return { kind: "anonymous" };
  }

  private basicPrincipal(user: string | undefined, pass: string | undefined): Principal | "invalid" {
    if (user === undefined || pass === undefined) return { kind: "anonymous" };
    if (user === "gitlab-ci-token") {
      const projectId = this.jobTokens.get(pass);
      return projectId !== undefined ? { kind: "job", projectId } : "invalid";
    }
    const d = this.deployTokens.get(user);
    if (d && d.token === pass) return d;
    const scopes = this.pats.get(pass);
    if (scopes) return { kind: "pat", token: pass, scopes };
    return "invalid";
  }

  private rest(
    method: string,
    seg: string[],
    who: Principal,
    url: URL,
    json: (s: number, v: unknown, h?: Record<string, string>) => void,
  ): void {
    if (method !== "GET") return json(405, { message: "405 Method Not Allowed" });
    const [resource, id, sub, pkgId, sub2] = seg;
    if (resource === "groups" && id !== undefined) {
      const g = this.groupByIdOrPath(id);
      if (!g || !this.canReadGroup(who, g)) return json(404, { message: "404 Group Not Found" });
      if (sub === undefined) {
        return json(200, {
          id: g.id,
          name: g.name,
          path: g.name,
          full_path: g.fullPath,
          visibility: "private",
          web_url: `${this.url}/groups/${g.fullPath}`,
          parent_id: g.parentId ?? null,
          ...(url.searchParams.get("with_projects") === "false"
            ? {}
            : { projects: this.projectsInGroup(g.id, false).map((p) => ({ id: p.id })) }),
        });
      }
      if (sub === "packages" && seg.length === 3) {
        const include = url.searchParams.get("exclude_subgroups") !== "true";
        const projects = this.projectsInGroup(g.id, include).filter((p) => this.canRead(who, p));
        return this.listPackages(url, new Set(projects.map((p) => p.id)), true, json);
      }
      return json(404, { error: "404 Not Found" });
    }
    if (resource === "projects" && id !== undefined) {
      const p = this.projectByIdOrPath(id);
      if (!p || !this.canRead(who, p)) return json(404, { message: "404 Project Not Found" });
      if (sub === undefined) {
        return json(200, {
          id: p.id,
          name: p.name,
          path: p.name,
          path_with_namespace: p.fullPath,
          namespace: { id: p.groupId, full_path: p.fullPath.split("/").slice(0, -1).join("/") },
          web_url: `${this.url}/${p.fullPath}`,
        });
      }
      if (sub === "packages" && seg.length === 3) return this.listPackages(url, new Set([p.id]), false, json);
      if (sub === "packages" && pkgId !== undefined && sub2 === "package_files" && seg.length === 5) {
        const pkg = this.packages.find((x) => x.id === Number(pkgId) && x.projectId === p.id);
        if (!pkg) return json(404, { message: "404 Package Not Found" });
        const rows = pkg.files.map((f) => ({
          id: f.id,
          package_id: pkg.id,
          created_at: f.createdAt,
          file_name: f.fileName,
          size: f.data.length,
          file_md5: f.md5,
          file_sha1: f.sha1,
          file_sha256: f.sha256,
          pipelines: [],
        }));
        return this.paginated(url, rows, json);
      }
      return json(404, { error: "404 Not Found" });
    }
    return json(404, { error: "404 Not Found" });
  }

  private listPackages(
    url: URL,
    projectIds: Set<number>,
    group: boolean,
    json: (s: number, v: unknown, h?: Record<string, string>) => void,
  ): void {
    const status = url.searchParams.get("status");
    if (status !== null && !(STATUSES as readonly string[]).includes(status)) {
      return json(400, { error: "status does not have a valid value" });
    }
    const type = url.searchParams.get("package_type");
    const rows = this.packages
      .filter((p) => projectIds.has(p.projectId))
      .filter((p) => (type ? p.type === type : true))
      .filter((p) => (status ? p.status === status : DISPLAYABLE.includes(p.status)))
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id - b.id))
      .map((p) => {
        const project = this.projects.find((x) => x.id === p.projectId) as FakeProject;
        return {
          id: p.id,
          name: p.name,
          version: p.version,
          package_type: p.type,
          status: p.status,
          _links: { web_path: `/${project.fullPath}/-/packages/${p.id}` },
          created_at: p.createdAt,
          last_downloaded_at: null,
          ...(group ? { project_id: p.projectId, project_path: project.fullPath } : {}),
          tags: [],
        };
      });
    if (url.searchParams.get("sort") === "desc") rows.reverse();
    this.paginated(url, rows, json);
  }

  /** Offset pagination as doc/api/rest/_index.md describes it. */
  private paginated(
    url: URL,
    rows: unknown[],
    json: (s: number, v: unknown, h?: Record<string, string>) => void,
  ): void {
    const pageRaw = Number.parseInt(url.searchParams.get("page") ?? "1", 10);
    const page = Number.isFinite(pageRaw) && pageRaw >= 1 ? pageRaw : 1;
    const perRaw = Number.parseInt(url.searchParams.get("per_page") ?? "20", 10);
    const per = !Number.isFinite(perRaw) || perRaw < 1 ? 20 : Math.min(perRaw, 100);
    const total = rows.length;
    const totalPages = Math.max(1, Math.ceil(total / per));
    const slice = rows.slice((page - 1) * per, page * per);
    const hasNext = page * per < total;
    const h: Record<string, string> = {};
    if (this.opts.paginationHeaders !== false) {
      const withTotals = total <= (this.opts.totalsLimit ?? 10_000);
      const link = (p: number): string => {
        const u = new URL(url.toString(), this.origin);
        u.searchParams.set("page", String(p));
        u.searchParams.set("per_page", String(per));
        return `${this.origin}${u.pathname}${u.search}`;
      };
      const links: string[] = [];
      if (page > 1) links.push(`<${link(page - 1)}>; rel="prev"`);
      if (hasNext) links.push(`<${link(page + 1)}>; rel="next"`);
      links.push(`<${link(1)}>; rel="first"`);
      if (withTotals) links.push(`<${link(totalPages)}>; rel="last"`);
      h["link"] = links.join(", ");
      h["x-page"] = String(page);
      h["x-per-page"] = String(per);
      h["x-next-page"] = hasNext ? String(page + 1) : "";
      h["x-prev-page"] = page > 1 ? String(page - 1) : "";
      if (withTotals) {
        h["x-total"] = String(total);
        h["x-total-pages"] = String(totalPages);
      }
    }
    json(200, slice, h);
  }

  // ---------- PyPI endpoints ----------

  private async pypi(
    req: IncomingMessage,
    seg: string[],
    who: Principal,
    rec: RecordedRequest,
    send: (status: number, body: string | Buffer, type: string, extra?: Record<string, string>) => void,
    json: (s: number, v: unknown, h?: Record<string, string>) => void,
    url: URL,
  ): Promise<void> {
    // groups/:id/-/packages/pypi/...  or  projects/:id/packages/pypi/...
    const [resource, id] = seg;
    const rest = seg.slice(seg.indexOf("pypi") + 1);
    let scopeProjects: FakeProject[];
    let base: string;
    let title: string;
    let project: FakeProject | undefined;
    if (resource === "groups" && seg[2] === "-") {
      const g = this.groupByIdOrPath(id ?? "");
      if (!g || !this.canReadGroup(who, g)) {
        req.resume();
        return json(404, { message: "404 Group Not Found" });
      }
      scopeProjects = this.projectsInGroup(g.id).filter((p) => this.canRead(who, p));
      base = `${this.apiRoot}/groups/${g.id}/-/packages/pypi`;
      title = g.name;
    } else if (resource === "projects") {
      project = this.projectByIdOrPath(id ?? "");
      if (!project) {
        req.resume();
        return json(404, { message: "404 Project Not Found" });
      }
      if (req.method === "POST" && rest.length === 0) return this.upload(req, project, who, rec, json);
      if (!this.canRead(who, project)) {
        req.resume();
        return json(who.kind === "deploy" || who.kind === "pat" ? 403 : 404, { message: "403 Forbidden" });
      }
      scopeProjects = [project];
      base = `${this.apiRoot}/projects/${project.id}/packages/pypi`;
      title = project.name;
    } else {
      req.resume();
      return json(404, { error: "404 Not Found" });
    }
    req.resume();
    if (req.method !== "GET") return json(405, { message: "405 Method Not Allowed" });
    const ids = new Set(scopeProjects.map((p) => p.id));
    const installable = this.packages.filter(
      (p) => ids.has(p.projectId) && p.type === "pypi" && INSTALLABLE.includes(p.status),
    );
    const html = (name: string, links: string[]): string =>
      `        <!DOCTYPE html>\n        <html>\n          <head>\n            <title>Links for ${esc(name)}</title>\n          </head>\n          <body>\n            <h1>Links for ${esc(name)}</h1>\n            ${links.join("")}\n          </body>\n        </html>\n`;

    if (rest[0] === "simple" && (rest.length === 1 || (rest.length === 2 && rest[1] === ""))) {
      const seen = new Set<string>();
      const links: string[] = [];
      for (const p of installable) {
        const n = norm(p.name);
        if (seen.has(n)) continue;
        seen.add(n);
        links.push(
          `<a href="${base}/simple/${n}" data-requires-python="${esc(p.requiresPython)}">${esc(p.name)}</a>`,
        );
      }
      return send(200, html(title, links), "text/html; charset=utf-8");
    }
    if (rest[0] === "simple" && rest.length >= 2 && rest[1]) {
      const name = norm(rest[1]);
      const pkgs = installable.filter((p) => norm(p.name) === name);
      if (pkgs.length === 0) {
        if (this.opts.forwardTo)
          return send(302, "", "text/html", { location: `${this.opts.forwardTo}${name}/` });
        return json(404, { message: "404 Package Not Found" });
      }
      const links = pkgs.flatMap((p) =>
        p.files.map(
          (f) =>
            `<a href="${base}/files/${f.sha256 ?? ""}/${f.fileName}#sha256=${f.sha256 ?? ""}" data-requires-python="${esc(p.requiresPython)}">${esc(f.fileName)}</a>`,
        ),
      );
      return send(200, html((pkgs[0] as FakePackage).name, links), "text/html; charset=utf-8");
    }
    if (rest[0] === "files" && rest.length === 3) {
      const [, shaParam, fileName] = rest as [string, string, string];
      for (const p of installable) {
        const f = p.files.find((x) => x.fileName === fileName && (x.sha256 ?? "") === shaParam);
        if (f)
          return send(200, f.data, "application/octet-stream", {
            "content-disposition": `attachment; filename="${f.fileName}"`,
          });
      }
      return json(404, { message: "404 Package Not Found" });
    }
    void url;
    return json(404, { error: "404 Not Found" });
  }

  private async upload(
    req: IncomingMessage,
    project: FakeProject,
    who: Principal,
    rec: RecordedRequest,
    json: (s: number, v: unknown, h?: Record<string, string>) => void,
  ): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (!this.canWrite(who, project)) return json(403, { message: "403 Forbidden" });
    const parsed = parseMultipart(body, String(req.headers["content-type"] ?? ""));
    if (!parsed) return json(400, { error: "content is missing, name is missing, version is missing" });
    rec.form = parsed.fields;
    if (parsed.file) {
      rec.fileName = parsed.file.filename;
      rec.fileSha256 = sha(parsed.file.data, "sha256");
    }
    const field = (k: string): string | undefined => parsed.fields.find(([key]) => key === k)?.[1];
    const missing = [
      ...(parsed.file ? [] : ["content"]),
      ...(field("name") ? [] : ["name"]),
      ...(field("version") ? [] : ["version"]),
    ];
    if (missing.length) return json(400, { error: missing.map((m) => `${m} is missing`).join(", ") });
    const digest = field("sha256_digest");
    if (digest !== undefined && !/^[0-9a-f]{64}$/i.test(digest))
      return json(400, { error: "sha256_digest is invalid" });
    const file = parsed.file as { filename: string; data: Buffer };
    if (this.opts.maxFileSize !== undefined && file.data.length > this.opts.maxFileSize) {
      return json(400, { message: "400 Bad request - File is too large" });
    }
    const name = field("name") as string;
    const version = field("version") as string;
    let pkg = this.packages.find(
      (p) =>
        p.projectId === project.id &&
        p.type === "pypi" &&
        p.name === name &&
        p.version === version &&
        p.status !== "pending_destruction",
    );
    if (!pkg)
      pkg = this.addPackage(project.id, { name, version, requiresPython: field("requires_python") ?? "" });
    // GitLab's duplicate answer, from gitlabhq/gitlabhq:
    // - app/models/packages/package_file.rb: `validates :file_name, uniqueness: { scope: :package },
    //   if: -> { !pending_destruction? && package&.pypi? }` (a PyPI filename is unique within its
    //   package, i.e. name + version; this fake keeps no file pending destruction);
    // - app/services/packages/pypi/create_package_service.rb `execute`: `rescue
    //   ActiveRecord::RecordInvalid ... => e` → `ServiceResponse.error(message: e.message, ...)`,
    //   and Rails words that error "Validation failed: File name has already been taken";
    // - lib/api/pypi_packages.rb, the upload `post`: `bad_request!(service_response.message) if
    //   service_response.error?`; lib/api/helpers.rb `bad_request!`: 400 with
    //   {"message": "400 Bad request - <reason>"}.
    // twine's own check agrees (pypa/twine twine/commands/upload.py `skip_upload`: "Gitlab
    // Enterprise Edition" → `status == 400 and "already been taken" in text`).
    if (pkg.files.some((f) => f.fileName === file.filename)) {
      return json(400, { message: "400 Bad request - Validation failed: File name has already been taken" });
    }
    const stored = this.opts.storeBytes ? this.opts.storeBytes(file.data) : file.data;
    const f = this.addFile(pkg, file.filename, stored, digest ?? null);
    f.md5 = field("md5_digest") ?? null;
    json(201, { message: "201 Created" });
  }
}

function sha(data: Buffer, algo: "sha256" | "md5" | "sha1"): string {
  return createHash(algo).update(data).digest("hex");
}

function norm(name: string): string {
  return name.replace(/[-_.]+/g, "-").toLowerCase();
}

function esc(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** A small multipart/form-data reader (the whole body is in memory: test files are small). */
function parseMultipart(
  body: Buffer,
  contentType: string,
): { fields: [string, string][]; file?: { filename: string; data: Buffer } } | undefined {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!/multipart\/form-data/i.test(contentType) || !m) return undefined;
  const boundary = Buffer.from("--" + (m[1] ?? m[2] ?? "").trim());
  const fields: [string, string][] = [];
  let file: { filename: string; data: Buffer } | undefined;
  let pos = body.indexOf(boundary);
  while (pos >= 0) {
    const start = pos + boundary.length;
    if (body.subarray(start, start + 2).toString() === "--") break;
    const headerEnd = body.indexOf("\r\n\r\n", start);
    if (headerEnd < 0) break;
    const head = body.subarray(start, headerEnd).toString("utf8");
    const next = body.indexOf(Buffer.concat([Buffer.from("\r\n"), boundary]), headerEnd + 4);
    if (next < 0) break;
    const data = body.subarray(headerEnd + 4, next);
    const name = /(?:^|[;\s])name="([^"]*)"/i.exec(head)?.[1];
    const filename = /filename="([^"]*)"/i.exec(head)?.[1];
    if (name === "content" && filename !== undefined) file = { filename, data: Buffer.from(data) };
    else if (name !== undefined) fields.push([name, data.toString("utf8")]);
    pos = next + 2;
  }
  return file ? { fields, file } : { fields };
}
