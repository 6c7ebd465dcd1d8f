/**
 * From `gitlab+https://HOST[/RELATIVE_ROOT]/PATH` to an API root and a group or project.
 *
 * GitLab may run under a relative URL root (doc/install/relative_url.md), so the API root is
 * `/api/v4` under one of the path's prefixes: pyreg tries them from the shortest. An API answers in
 * JSON — even its 404s (`{"message":"404 Group Not Found"}`) — while a path outside the API answers
 * with the web UI's HTML (or a redirect to the sign-in page): that tells the root apart. Then the API
 * tells whether PATH is a group (`GET /groups/:url-encoded-path`) or a project
 * (`GET /projects/:url-encoded-path`), both documented to take the URL-encoded full path as `:id`.
 *
 * When the REST API refuses the token (deploy tokens, job tokens on group routes), the PyPI simple
 * endpoints answer the same question with Basic auth: `/groups/:id/-/packages/pypi/simple` exists for
 * groups, `/projects/:id/packages/pypi/simple` for projects (lib/api/pypi_packages.rb).
 */
import { PyregError } from "../../core/errors.js";
import type { BufferedResponse, HttpClient } from "../../http/client.js";
import { redactUrl } from "../../http/redact.js";
import { groupSchema, isJson, jsonOf, parseWith, probe, projectSchema } from "./api.js";
import { basicProviderFor, kindName, scopeHint, SwitchableProvider, type GitLabCredentials } from "./auth.js";

export interface GitLabTarget {
  /** `https://host[/root]/api/v4`, no trailing slash. */
  apiRoot: string;
  kind: "group" | "project";
  fullPath: string;
  /** What goes into `:id` in URLs: the numeric id when REST said it, else the URL-encoded path. */
  id: string;
  /** How pyreg reads it: the REST packages API, or the PyPI simple index. */
  via: "rest" | "simple";
  /** Why REST was not used, for describe(). */
  restRefused?: string | undefined;
}

export interface LocateOptions {
  label: string;
  log: (m: string) => void;
  /** --gitlab-api: the API root, when the path-prefix probing cannot find it. */
  apiOverride?: string | undefined;
  /** Destination: a project is wanted (errors speak of uploads). */
  wantProject?: boolean;
  /**
   * Register the REST credentials only for this path's own group/project URLs, not the whole API
   * root (a destination on the same instance as the source may hold another token).
   */
  narrow?: boolean;
}

interface Candidate {
  apiRoot: string;
  path: string;
}

export function candidates(url: URL, apiOverride?: string): Candidate[] {
  const segments = url.pathname
    .split("/")
    .filter(Boolean)
    .map((s) => decodeURIComponent(s));
  const origin = `${url.protocol}//${url.host}`;
  if (apiOverride) {
    const api = new URL(apiOverride);
    const root = api.pathname.replace(/\/+$/, "").replace(/\/api\/v4$/, "");
    const rootSegs = root.split("/").filter(Boolean);
    const startsWithRoot = rootSegs.every((s, i) => segments[i] === s);
    const rest = startsWithRoot ? segments.slice(rootSegs.length) : segments;
    return [{ apiRoot: `${api.protocol}//${api.host}${root}/api/v4`, path: rest.join("/") }];
  }
  const out: Candidate[] = [];
  for (let k = 0; k < segments.length; k++) {
    const root = segments.slice(0, k).map(encodeURIComponent).join("/");
    out.push({ apiRoot: `${origin}${root ? "/" + root : ""}/api/v4`, path: segments.slice(k).join("/") });
  }
  return out;
}

export function enc(path: string): string {
  return encodeURIComponent(path);
}

/** Where the path was found, and the credentials that reach it. */
interface Located {
  target: GitLabTarget;
  provider: SwitchableProvider | undefined;
}

/** Where a GitLab answered: JSON (even a 404) means "this is the API". */
function isApiAnswer(res: BufferedResponse): boolean {
  return isJson(res) || (res.status >= 200 && res.status < 300);
}

export async function locate(
  http: HttpClient,
  url: URL,
  creds: GitLabCredentials | undefined,
  opts: LocateOptions,
): Promise<Located> {
  const list = candidates(url, opts.apiOverride);
  if (list.length === 0 || list.every((c) => c.path === "")) {
    throw new PyregError("USAGE", `no group or project path in ${redactUrl(url)}`, {
      hint: "write gitlab+https://HOST/GROUP[/SUBGROUP...] or gitlab+https://HOST/GROUP/PROJECT",
    });
  }
  const tryRest = creds?.kind !== "deploy";
  const problems: string[] = [];
  for (const c of list) {
    if (!c.path) continue;
    // Credentials for this candidate root: REST header (or Basic once REST refused it) for the
    // whole API root; Basic for the PyPI endpoints of this path.
    let provider: SwitchableProvider | undefined;
    if (creds) {
      provider = new SwitchableProvider(creds, tryRest ? "rest" : "basic");
      if (opts.narrow) {
        http.credentials.add(`${c.apiRoot}/groups/${enc(c.path)}`, provider);
        http.credentials.add(`${c.apiRoot}/projects/${enc(c.path)}`, provider);
      } else http.credentials.add(c.apiRoot + "/", provider);
      http.credentials.add(`${c.apiRoot}/groups/${enc(c.path)}/-/packages/pypi`, basicProviderFor(creds));
      http.credentials.add(`${c.apiRoot}/projects/${enc(c.path)}/packages/pypi`, basicProviderFor(creds));
    }
    let restRefused: string | undefined = tryRest
      ? undefined
      : `a ${kindName(creds?.kind ?? "none")} cannot use the REST API`;
    if (tryRest) {
      const g = await probe(http, `${c.apiRoot}/groups/${enc(c.path)}?with_projects=false`, opts.label);
      if (!isApiAnswer(g)) continue;
      if (g.status === 200) {
        const group = parseWith(groupSchema, jsonOf(g, g.url), g.url, "the group");
        return {
          target: {
            apiRoot: c.apiRoot,
            kind: "group",
            fullPath: group.full_path,
            id: String(group.id),
            via: "rest",
          },
          provider,
        };
      }
      if (g.status === 401 || g.status === 403) restRefused = refusedRest(g, creds, opts);
      else if (g.status === 404) {
        const p = await probe(http, `${c.apiRoot}/projects/${enc(c.path)}`, opts.label);
        if (p.status === 200) {
          const project = parseWith(projectSchema, jsonOf(p, p.url), p.url, "the project");
          return {
            target: {
              apiRoot: c.apiRoot,
              kind: "project",
              fullPath: project.path_with_namespace,
              id: String(project.id),
              via: "rest",
            },
            provider,
          };
        }
        if (p.status === 401 || p.status === 403) restRefused = refusedRest(p, creds, opts);
        else if (p.status === 404)
          restRefused = "REST found no group or project (a token that REST ignores sees only public ones)";
        else throw unexpected(p);
      } else throw unexpected(g);
    }
    // The PyPI simple endpoints, with Basic.
    provider?.useBasic();
    const gs = await probe(http, `${c.apiRoot}/groups/${enc(c.path)}/-/packages/pypi/simple/`, opts.label);
    if (!tryRest && !isApiAnswer(gs) && gs.status !== 401 && gs.status !== 403) continue;
    // Found through a PyPI simple index (REST refused or not used): named by its path.
    const viaSimple = (kind: "group" | "project"): Located => {
      if (!opts.wantProject) {
        opts.log(
          `GitLab: reading ${kind} ${c.path} through its PyPI simple index (${restRefused ?? "REST not used"})`,
        );
      }
      return {
        target: { apiRoot: c.apiRoot, kind, fullPath: c.path, id: enc(c.path), via: "simple", restRefused },
        provider,
      };
    };
    if (gs.status === 200) return viaSimple("group");
    const ps = await probe(http, `${c.apiRoot}/projects/${enc(c.path)}/packages/pypi/simple/`, opts.label);
    if (ps.status === 200) return viaSimple("project");
    const refused = [gs, ps].find((r) => r.status === 401 || r.status === 403);
    if (refused) {
      throw new PyregError(
        "AUTH",
        `GitLab refused ${refused.status === 401 ? "the credentials (401)" : "access (403)"} for ${c.path} at ${redactUrl(c.apiRoot)}` +
          (restRefused ? ` (${restRefused})` : ""),
        {
          method: "GET",
          url: redactUrl(refused.url),
          status: refused.status,
          hint: scopeHint(creds?.kind ?? "none", opts.wantProject ? "upload" : "download"),
        },
      );
    }
    if (isApiAnswer(gs) || isApiAnswer(ps)) {
      problems.push(
        `${c.apiRoot}: no group or project ${c.path} visible${restRefused ? ` (${restRefused})` : ""}`,
      );
      break;
    }
  }
  throw new PyregError(
    "NOT_FOUND",
    `GitLab: ${redactUrl(url)} is neither a group nor a project that these credentials can see`,
    {
      url: redactUrl(url),
      hint:
        (problems.length
          ? problems.join("; ") + ". "
          : "no GitLab API answered under any prefix of the path. ") +
        "Check the path (the full group/subgroup/project path as in the web UI), give the API root with --gitlab-api if GitLab runs under an unusual prefix, and check the token: " +
        scopeHint(creds?.kind ?? "none", "list"),
    },
  );
}

/**
 * A REST refusal. An access token (glpat-) that REST refuses cannot do better on the PyPI endpoints:
 * 401 means expired, revoked or mistyped, 403 a missing scope — say so now. Other kinds go on to the
 * simple index (deploy tokens and job tokens are meant to work there).
 */
function refusedRest(
  res: BufferedResponse,
  creds: GitLabCredentials | undefined,
  opts: LocateOptions,
): string {
  if (creds?.kind === "personal") {
    throw new PyregError(
      "AUTH",
      `GitLab refused the ${kindName(creds.kind)} from ${creds.source} (${res.status}${res.status === 401 ? ": expired, revoked or mistyped" : ": missing scope"})`,
      {
        method: "GET",
        url: redactUrl(res.url),
        status: res.status,
        serverAnswer: res.text().slice(0, 300),
        hint: scopeHint(creds.kind, opts.wantProject ? "upload" : "list"),
      },
    );
  }
  return `REST answered ${res.status} to the ${kindName(creds?.kind ?? "none")}`;
}

function unexpected(res: BufferedResponse): PyregError {
  return new PyregError("HTTP", `GitLab API: HTTP ${res.status} for GET ${redactUrl(res.url)}`, {
    method: "GET",
    url: redactUrl(res.url),
    status: res.status,
    serverAnswer: res.text().slice(0, 300),
  });
}
