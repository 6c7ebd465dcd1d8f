/**
 * GitLab credentials: where they come from, what kind of token they are, and which header each
 * GitLab endpoint family wants.
 *
 * Sources (gitlabhq/gitlabhq doc/user/packages/pypi_repository/_index.md, doc/api/rest/authentication.md,
 * lib/api/pypi_packages.rb `route_setting :authentication`):
 * - REST (`/groups/:id/packages`, `/projects/:id/packages/:package_id/package_files`...): `PRIVATE-TOKEN`
 *   (personal, group or project access token) or `JOB-TOKEN` (CI job token). Deploy tokens are not
 *   accepted there.
 * - PyPI endpoints (`.../packages/pypi/...`): HTTP Basic only — any username + access token,
 *   deploy-token username + deploy token, or `gitlab-ci-token` + job token.
 *
 * Where pyreg looks, first hit wins: user:token in the URL, PYREG_FROM_USERNAME/PASSWORD (source) or
 * PYREG_TO_* (destination), GITLAB_TOKEN, CI_JOB_TOKEN (only for the instance in CI_SERVER_URL when
 * that is set), then ~/.netrc.
 *
 * Telling token kinds apart: GitLab's default prefixes say it (`glpat-` access tokens, `gldt-` deploy
 * tokens, `glcbt-` job tokens; the user `gitlab-ci-token` means a job token). A token without a known
 * prefix (custom instance prefix, tokens created before 14.5) is "unknown": pyreg tries the REST API
 * with it as PRIVATE-TOKEN and, if GitLab refuses it, uses the simple index with Basic — which is what
 * a deploy token needs anyway.
 */
import { originOf, type AuthValue, type CredentialProvider } from "../../http/credentials.js";
import { registerSecret } from "../../http/redact.js";
import { resolveBasicCredentials, type CredentialHints } from "../auth.js";
import type { Side } from "../types.js";

export type TokenKind = "personal" | "deploy" | "job" | "unknown" | "none";

export interface GitLabCredentials {
  kind: TokenKind;
  /** Basic username for the PyPI endpoints. */
  username: string;
  token: string;
  /** Where they came from: "the URL", "GITLAB_TOKEN", "~/.netrc"... */
  source: string;
}

const KIND_NAME: Record<TokenKind, string> = {
  personal: "personal/group/project access token",
  deploy: "deploy token",
  job: "CI job token",
  unknown: "token (access token or deploy token)",
  none: "no token",
};

export function kindName(kind: TokenKind): string {
  return KIND_NAME[kind];
}

export function classifyToken(username: string, token: string, source: string): TokenKind {
  if (source === "CI_JOB_TOKEN" || username === "gitlab-ci-token" || token.startsWith("glcbt-")) return "job";
  if (token.startsWith("gldt-")) return "deploy";
  if (token.startsWith("glpat-")) return "personal";
  return "unknown";
}

export function resolveGitLabCredentials(
  url: URL,
  side: Side,
  env: NodeJS.ProcessEnv,
  hints?: CredentialHints,
): GitLabCredentials | undefined {
  const basic = resolveBasicCredentials(url, side, env, hints);
  const make = (username: string, token: string, source: string): GitLabCredentials => {
    const kind = classifyToken(username, token, source);
    const user = kind === "job" ? "gitlab-ci-token" : username || "pyreg";
    return { kind, username: user === "__token__" ? "pyreg" : user, token, source };
  };
  // URL and PYREG_* come before the GitLab variables; ~/.netrc comes after them.
  if (basic && basic.source !== "~/.netrc") return make(basic.username, basic.password, basic.source);
  const gitlabToken = env["GITLAB_TOKEN"];
  if (gitlabToken) return make("", gitlabToken, "GITLAB_TOKEN");
  const jobToken = env["CI_JOB_TOKEN"];
  const ciServer = env["CI_SERVER_URL"];
  if (jobToken && (!ciServer || sameOrigin(ciServer, url)))
    return make("gitlab-ci-token", jobToken, "CI_JOB_TOKEN");
  if (basic) return make(basic.username, basic.password, basic.source);
  return undefined;
}

function sameOrigin(a: string, b: URL): boolean {
  try {
    return originOf(a) === originOf(b);
  } catch {
    return false;
  }
}

/** The header a REST call carries for these credentials (none for deploy tokens: REST refuses them). */
export function restAuth(c: GitLabCredentials): AuthValue | undefined {
  if (c.kind === "job") return { type: "header", name: "JOB-TOKEN", value: c.token };
  if (c.kind === "deploy" || c.kind === "none") return undefined;
  return { type: "header", name: "PRIVATE-TOKEN", value: c.token };
}

export function basicAuth(c: GitLabCredentials): AuthValue {
  return { type: "basic", username: c.username, password: c.token };
}

/**
 * One provider whose answer can switch from the REST header to Basic once pyreg knows the REST API
 * refused the token (the credential store cannot remove a registration).
 */
export class SwitchableProvider implements CredentialProvider {
  private mode: "rest" | "basic";
  constructor(
    readonly creds: GitLabCredentials,
    mode: "rest" | "basic",
  ) {
    registerSecret(creds.token);
    this.mode = mode;
  }
  get source(): string {
    return `${kindName(this.creds.kind)} from ${this.creds.source}`;
  }
  useBasic(): void {
    this.mode = "basic";
  }
  get(): Promise<AuthValue | undefined> {
    return Promise.resolve(this.mode === "rest" ? restAuth(this.creds) : basicAuth(this.creds));
  }
}

export function basicProviderFor(c: GitLabCredentials): CredentialProvider {
  registerSecret(c.token);
  const auth = basicAuth(c);
  return { source: `${kindName(c.kind)} from ${c.source}`, get: () => Promise.resolve(auth) };
}

/** What a 401/403 means for this token kind, and the scope that would make it work. */
export function scopeHint(kind: TokenKind, need: "list" | "download" | "upload"): string {
  const tried = kind === "none" ? "no token was sent" : `a ${kindName(kind)} was tried`;
  const scopes: Record<typeof need, string> = {
    list: "listing through the REST API needs an access token with read_api (or api); a deploy token needs read_package_registry and is used through the simple index",
    download:
      "downloading from the PyPI endpoints needs an access token with read_api (or api), a deploy token with read_package_registry, or a CI job token allowed to read this project",
    upload:
      "uploading needs an access token with api, a deploy token with write_package_registry, or a CI job token of a job in this project (at least Developer role for the token's user)",
  };
  return `${tried}; ${scopes[need]}. Give it as user and token in the URL, as PYREG_FROM_USERNAME/PASSWORD (PYREG_TO_* for a destination), GITLAB_TOKEN or CI_JOB_TOKEN, or in ~/.netrc`;
}
