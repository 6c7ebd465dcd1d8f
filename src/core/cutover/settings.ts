/**
 * print-settings: ready-to-paste configuration for the tools that install from (pip, uv, poetry,
 * pdm, pipenv, a requirements.txt header) and publish to (twine, poetry) a registry, with the
 * registry kind's credential story. Built as data (ToolSettings) so the CLI can print it as text
 * or JSON. No secret is ever part of it: credentials appear as the placeholders <USERNAME> and
 * <PASSWORD>, or as environment variables the user sets.
 */
import { PyregError } from "../errors.js";
import { redactUrl } from "../../http/redact.js";
import { stripCredentials } from "../../registries/auth.js";
import { parseCodeArtifactUrl } from "../../registries/codeartifact/index.js";
import { parseGarUrl } from "../../registries/gar/url.js";
import { kindFor } from "../../registries/index.js";
import { RECIPES } from "../../registries/recipes/index.js";
import type { RegistrySpec } from "../../registries/types.js";

export const USERNAME = "<USERNAME>";
export const PASSWORD = "<PASSWORD>";

export interface Snippet {
  /** Where it goes: a file path (~ = home), "shell", "pyproject.toml"... */
  target: string;
  text: string;
  /** When it applies (a tool version, an alternative), if not always. */
  when?: string | undefined;
}

export interface ToolSettings {
  tool: "pip" | "uv" | "poetry" | "pdm" | "pipenv" | "requirements.txt" | "twine";
  /** The tool's documentation the snippets follow. */
  docs: string[];
  snippets: Snippet[];
  /** How this tool takes a package from one index only (dependency confusion). */
  pinning: string;
  notes: string[];
}

export interface RegistrySettings {
  kind: string;
  indexUrl: string;
  uploadUrl: string | undefined;
  /** The source name used in uv/poetry/pdm/pipenv/.pypirc. */
  name: string;
  /** How to get credentials for this kind of registry. */
  credentials: { username: string; steps: string[]; docs: string[] };
  /** The tools' settings. */
  tools: ToolSettings[];
  warnings: string[];
}

/** The warning of --with-pypi (an index mix), also printed on stderr by print-settings. */
export const DEPENDENCY_CONFUSION =
  "DEPENDENCY CONFUSION: with pypi.org as a second index, pip (and every tool told to merge indexes) installs the highest " +
  "version found on ANY index: anyone who publishes one of your private names on pypi.org with a higher version gets " +
  "their code installed. Pin each private package to this index (see each tool's 'pinning'), or serve pypi.org " +
  "through this registry (a remote/virtual/upstream repository) and use it as the only index.";

export interface SettingsOptions {
  name: string;
  /** --with-pypi: keep pypi.org as a second index (an --extra-index-url mix). */
  withPypi: boolean;
  username?: string | undefined;
  indexUrl?: string | undefined;
  gitlabApi?: string | undefined;
  env: NodeJS.ProcessEnv;
}

const PYPI = "https://pypi.org/simple/";

function clean(url: URL | string): string {
  const u = stripCredentials(new URL(String(url)));
  u.search = "";
  u.hash = "";
  return u.toString();
}

function withSlash(u: string): string {
  return u.endsWith("/") ? u : u + "/";
}

interface KindStory {
  kind: string;
  indexUrl: string;
  uploadUrl: string | undefined;
  username: string;
  steps: string[];
  docs: string[];
  notes: string[];
}

function gitlabUrls(
  url: URL,
  apiOverride: string | undefined,
): { index: string; upload: string | undefined; note: string } {
  const u = new URL(clean(url));
  const m = /^(.*\/api\/v4)\/(projects|groups)\/([^/]+)/.exec(u.pathname);
  if (m) {
    const root = `${u.protocol}//${u.host}${m[1] as string}`;
    const id = m[3] as string;
    return m[2] === "projects"
      ? {
          index: `${root}/projects/${id}/packages/pypi/simple/`,
          upload: `${root}/projects/${id}/packages/pypi`,
          note: "",
        }
      : {
          index: `${root}/groups/${id}/-/packages/pypi/simple/`,
          upload: undefined,
          note: "a group index reads every project of the group and its subgroups; uploads go to a project",
        };
  }
  const root = (apiOverride ?? `${u.protocol}//${u.host}/api/v4`).replace(/\/+$/, "");
  const path = u.pathname.replace(/^\/+|\/+$/g, "");
  const id = encodeURIComponent(decodeURIComponent(path));
  return {
    index: `${root}/projects/${id}/packages/pypi/simple/`,
    upload: `${root}/projects/${id}/packages/pypi`,
    note:
      "the URLs use the project's URL-encoded path as its id (GitLab's API accepts it); the numeric project ID " +
      "(project overview page) works everywhere and survives a rename. For a group's index give " +
      "https://HOST/api/v4/groups/ID.",
  };
}

function storyOf(spec: RegistrySpec, opts: SettingsOptions): KindStory {
  const kind = kindFor(spec).name;
  if (kind === "folder" || !spec.url)
    throw new PyregError("USAGE", `${spec.display} is a folder: tools install from an index URL`, {
      hint: "serve it with `pyreg serve DIR` (or your registry) and give that URL",
    });
  const url = spec.url;
  switch (kind) {
    case "gar": {
      const r = parseGarUrl(url);
      return {
        kind,
        indexUrl: r.indexUrl,
        uploadUrl: r.repoUrl,
        username: "oauth2accesstoken",
        steps: [
          "Recommended: the keyring plugin, no password in any file: `pip install keyring keyrings.google-artifactregistry-auth` " +
            "(into the environment of the tool: pip, twine, poetry's, pdm's); it takes Application Default Credentials " +
            "(`gcloud auth application-default login`, or a service account on GCE/GKE/Cloud Build). With it, use the URLs " +
            "without credentials; pip >= 23.1 outside that environment: `--keyring-provider subprocess` with `keyring` on PATH.",
          "Or Basic auth: username `oauth2accesstoken`, password `$(gcloud auth print-access-token)` (an access token lasts about 1 hour: fetch it per job).",
          "Or username `_json_key_base64`, password: the base64 of a service-account key file (long-lived: prefer the two above).",
        ],
        docs: [
          "https://cloud.google.com/artifact-registry/docs/python/authentication",
          "https://github.com/GoogleCloudPlatform/artifact-registry-python-tools",
        ],
        notes: [],
      };
    }
    case "codeartifact": {
      const r = parseCodeArtifactUrl(url, opts.env);
      const args = `--domain ${r.domain ?? "DOMAIN"} --domain-owner ${r.domainOwner ?? "ACCOUNT"} --repository ${r.repository}${r.region ? ` --region ${r.region}` : ""}`;
      return {
        kind,
        indexUrl: r.indexUrl,
        uploadUrl: r.repoUrl,
        username: "aws",
        steps: [
          `pip and twine: \`aws codeartifact login --tool pip ${args}\` (and \`--tool twine\`) writes their configuration with a token valid 12 hours.`,
          `Other tools: username \`aws\`, password a token: \`export CODEARTIFACT_AUTH_TOKEN=$(aws codeartifact get-authorization-token --domain ${r.domain ?? "DOMAIN"} --domain-owner ${r.domainOwner ?? "ACCOUNT"} --query authorizationToken --output text)\`, then use $CODEARTIFACT_AUTH_TOKEN where <PASSWORD> is written.`,
        ],
        docs: [
          "https://docs.aws.amazon.com/codeartifact/latest/ug/python-configure-pip.html",
          "https://docs.aws.amazon.com/codeartifact/latest/ug/python-configure-twine.html",
          "https://docs.aws.amazon.com/codeartifact/latest/ug/tokens-authentication.html",
        ],
        notes: [],
      };
    }
    case "gitlab": {
      const g = gitlabUrls(url, opts.gitlabApi);
      return {
        kind,
        indexUrl: g.index,
        uploadUrl: g.upload,
        username: "__token__",
        steps: [
          "A personal, project or group access token (scope read_api to install, api to upload): any username (write __token__), the token as password.",
          "A deploy token (scopes read_package_registry / write_package_registry): the deploy token's own username (gitlab+deploy-token-N), the token as password.",
          "In GitLab CI: username gitlab-ci-token, password $CI_JOB_TOKEN (the job token; the project must be allowed in the target's job token allowlist).",
        ],
        docs: [
          "https://docs.gitlab.com/user/packages/pypi_repository/",
          "https://docs.gitlab.com/user/packages/package_registry/#authenticate-with-the-registry",
        ],
        notes: g.note ? [g.note] : [],
      };
    }
    default: {
      const recipe = RECIPES.find((r) => r.name === kind);
      let indexUrl: string;
      let uploadUrl: string | undefined;
      if (recipe) ({ indexUrl, uploadUrl } = recipe.urls(url));
      else if (/\/\+?simple\/?$/.test(url.pathname)) {
        indexUrl = withSlash(clean(url));
        uploadUrl = undefined;
      } else {
        uploadUrl = clean(url);
        indexUrl = new URL("simple/", withSlash(uploadUrl)).toString();
      }
      const steps = [
        "HTTP Basic: the registry's username and password (or token). Keep them out of files checked in: " +
          "~/.netrc (`machine HOST login <USERNAME> password <PASSWORD>`, mode 600), a keyring, or environment variables as below.",
      ];
      const docs = ["https://pip.pypa.io/en/stable/topics/authentication/"];
      if (kind === "azure") {
        steps.unshift(
          "Azure Artifacts: `pip install keyring artifacts-keyring` lets pip and twine sign in with Azure DevOps (no token in files); " +
            "otherwise a personal access token with Packaging read (or read & write) as password, any username.",
        );
        docs.push("https://learn.microsoft.com/azure/devops/artifacts/quickstarts/python-cli");
      }
      return { kind, indexUrl, uploadUrl, username: USERNAME, steps, docs, notes: [] };
    }
  }
}

/** The URL with <USERNAME>:<PASSWORD> (or given variables) as userinfo, for tools that take it there. */
function withUserinfo(url: string, user: string, pass: string): string {
  const u = new URL(url);
  return `${u.protocol}//${user}:${pass}@${u.host}${u.pathname}${u.search}`;
}

export function buildSettings(spec: RegistrySpec, opts: SettingsOptions): RegistrySettings {
  const story = storyOf(spec, opts);
  const indexUrl = opts.indexUrl ? withSlash(clean(opts.indexUrl)) : story.indexUrl;
  const uploadUrl = story.uploadUrl;
  const user = opts.username ?? story.username;
  const name = opts.name;
  const NAME = name.toUpperCase().replace(/[^A-Z0-9]/g, "_");
  const warnings: string[] = [];
  if (spec.url && (spec.url.username || spec.url.password))
    warnings.push(
      "the credentials in the registry URL you gave are not printed: the settings use <USERNAME>/<PASSWORD> placeholders or variables",
    );
  if (opts.withPypi) warnings.push(DEPENDENCY_CONFUSION);
  const tools: ToolSettings[] = [];

  // pip: https://pip.pypa.io/en/stable/topics/configuration/ (files, PIP_* variables),
  // https://pip.pypa.io/en/stable/topics/authentication/ (netrc, keyring, URL userinfo).
  tools.push({
    tool: "pip",
    docs: [
      "https://pip.pypa.io/en/stable/topics/configuration/",
      "https://pip.pypa.io/en/stable/topics/authentication/",
    ],
    snippets: [
      {
        target: "~/.config/pip/pip.conf",
        text:
          `[global]\nindex-url = ${opts.withPypi ? PYPI : indexUrl}\n` +
          (opts.withPypi ? `extra-index-url = ${indexUrl}\n` : ""),
        when: "per user (a virtualenv: $VIRTUAL_ENV/pip.conf; all users: /etc/pip.conf)",
      },
      {
        target: "~/.netrc",
        text: `machine ${new URL(indexUrl).hostname}\n  login ${user}\n  password ${PASSWORD}\n`,
        when: "the credentials (chmod 600 ~/.netrc); not needed with a keyring plugin",
      },
      {
        target: "shell",
        text: opts.withPypi
          ? `export PIP_INDEX_URL="${PYPI}"\nexport PIP_EXTRA_INDEX_URL="${withUserinfo(indexUrl, "$" + NAME + "_USERNAME", "$" + NAME + "_PASSWORD")}"\n`
          : `export PIP_INDEX_URL="${withUserinfo(indexUrl, "$" + NAME + "_USERNAME", "$" + NAME + "_PASSWORD")}"\n`,
        when: `CI jobs and containers: set ${NAME}_USERNAME and ${NAME}_PASSWORD as secret variables first (percent-encode @ : / in them)`,
      },
    ],
    pinning:
      "pip cannot take a package from one index only: with --extra-index-url it picks the best version across all indexes. " +
      "Use one index (this registry proxying pypi.org if you need public packages), or --require-hashes lock files.",
    notes: [],
  });

  // uv: https://docs.astral.sh/uv/configuration/indexes/ ([[tool.uv.index]], default/explicit,
  // UV_INDEX_<NAME>_USERNAME/PASSWORD, index-strategy), https://docs.astral.sh/uv/reference/settings/#index.
  const uvIndex = `name = "${name}"\nurl = "${indexUrl}"\n` + (opts.withPypi ? "" : "default = true\n");
  tools.push({
    tool: "uv",
    docs: [
      "https://docs.astral.sh/uv/configuration/indexes/",
      "https://docs.astral.sh/uv/configuration/authentication/",
    ],
    snippets: [
      {
        target: "pyproject.toml",
        text: `[[tool.uv.index]]\n${uvIndex}` + (uploadUrl ? `publish-url = "${uploadUrl}"\n` : ""),
      },
      {
        target: "~/.config/uv/uv.toml",
        text: `[[index]]\n${uvIndex}`,
        when: "per user instead of per project",
      },
      {
        target: "shell",
        text: `export UV_INDEX_${NAME}_USERNAME=${user === USERNAME ? "<USERNAME>" : user}\nexport UV_INDEX_${NAME}_PASSWORD=${PASSWORD}   # from your secret store`,
      },
    ],
    pinning:
      `uv's default index strategy (first-index) takes each package from the first index that has it. To take a package ` +
      `from this index only: add \`explicit = true\` to the [[tool.uv.index]] entry and \`[tool.uv.sources] PACKAGE = { index = "${name}" }\`.`,
    notes: opts.withPypi ? ["without `default = true`, pypi.org stays the default index after this one"] : [],
  });

  // Poetry: https://python-poetry.org/docs/repositories/ (source add, priorities, http-basic,
  // POETRY_HTTP_BASIC_<NAME>_*, publishing), https://python-poetry.org/docs/cli/#source-add.
  tools.push({
    tool: "poetry",
    docs: ["https://python-poetry.org/docs/repositories/", "https://python-poetry.org/docs/cli/#source"],
    snippets: [
      {
        target: "shell",
        text: `poetry source add --priority=${opts.withPypi ? "supplemental" : "primary"} ${name} ${indexUrl}`,
        when: "Poetry 1.5 and later",
      },
      {
        target: "shell",
        text: `poetry source add${opts.withPypi ? " --secondary" : " --default"} ${name} ${indexUrl}`,
        when: "Poetry 1.2 to 1.4 (Debian 12 ships 1.3)",
      },
      {
        target: "shell",
        text: `export POETRY_HTTP_BASIC_${NAME}_USERNAME=${user}\nexport POETRY_HTTP_BASIC_${NAME}_PASSWORD=${PASSWORD}   # or: poetry config http-basic.${name} ${user}  (it asks for the password)`,
      },
      ...(uploadUrl
        ? [
            {
              target: "shell",
              text: `poetry config repositories.${name} ${uploadUrl}\npoetry publish --repository ${name}`,
              when: "publishing",
            },
          ]
        : []),
    ],
    pinning:
      `Poetry 1.5+: \`poetry source add --priority=explicit ${name} URL\` then \`poetry add PACKAGE --source ${name}\`: ` +
      `an explicit source serves only the packages that name it.`,
    notes: [
      "after changing a project's source, `poetry lock --no-update` (Poetry 1.x; plain `poetry lock` in 2.x) records it in poetry.lock",
    ],
  });

  // PDM: https://pdm-project.org/latest/usage/config/#configure-the-package-indexes (a source named
  // "pypi" replaces PyPI; ${VAR} in URLs; include_packages/exclude_packages; respect-source-order).
  tools.push({
    tool: "pdm",
    docs: ["https://pdm-project.org/latest/usage/config/#configure-the-package-indexes"],
    snippets: [
      {
        target: "pyproject.toml",
        text: `[[tool.pdm.source]]\nname = "${opts.withPypi ? name : "pypi"}"\nurl = "${withUserinfo(indexUrl, "${" + NAME + "_USERNAME}", "${" + NAME + "_PASSWORD}")}"\nverify_ssl = true\n`,
        when: opts.withPypi
          ? "kept beside pypi.org"
          : 'named "pypi", it replaces pypi.org; ${VAR}s are read from the environment when PDM runs',
      },
      {
        target: "shell",
        text: `export ${NAME}_USERNAME=${user}\nexport ${NAME}_PASSWORD=${PASSWORD}   # from your secret store`,
      },
    ],
    pinning:
      `PDM 2.5+: \`include_packages = ["PACKAGE", "ACME-*"]\` in the [[tool.pdm.source]] entry takes those packages from this index only; ` +
      "or `[tool.pdm.resolution] respect-source-order = true` to stop at the first index that has a package.",
    notes: [],
  });

  // Pipenv: https://pipenv.pypa.io/en/latest/indexes.html ([[source]], index= per package,
  // ${VAR} expansion in source URLs: https://pipenv.pypa.io/en/latest/credentials.html).
  tools.push({
    tool: "pipenv",
    docs: [
      "https://pipenv.pypa.io/en/latest/indexes.html",
      "https://pipenv.pypa.io/en/latest/credentials.html",
    ],
    snippets: [
      {
        target: "Pipfile",
        text:
          `[[source]]\nname = "${name}"\nurl = "${withUserinfo(indexUrl, "${" + NAME + "_USERNAME}", "${" + NAME + "_PASSWORD}")}"\nverify_ssl = true\n` +
          (opts.withPypi ? `\n[[source]]\nname = "pypi"\nurl = "${PYPI}"\nverify_ssl = true\n` : ""),
        when: "the first [[source]] is the default index",
      },
    ],
    pinning: `\`PACKAGE = {version = "*", index = "${name}"}\` in [packages] takes it from this index only (Pipenv resolves each package from one index).`,
    notes: [],
  });

  // requirements.txt options: https://pip.pypa.io/en/stable/reference/requirements-file-format/#supported-options
  tools.push({
    tool: "requirements.txt",
    docs: ["https://pip.pypa.io/en/stable/reference/requirements-file-format/"],
    snippets: [
      {
        target: "requirements.txt (first lines)",
        text: opts.withPypi
          ? `--index-url ${PYPI}\n--extra-index-url ${indexUrl}\n`
          : `--index-url ${indexUrl}\n`,
        when: "no credentials here: pip finds them in ~/.netrc, a keyring or PIP_INDEX_URL",
      },
    ],
    pinning:
      "pin with == and --hash (pip-compile --generate-hashes, pdm export, uv pip compile --generate-hashes) and check with `pyreg check-lock`.",
    notes: [],
  });

  // twine: https://packaging.python.org/en/latest/specifications/pypirc/ and
  // https://twine.readthedocs.io/en/stable/#environment-variables (TWINE_USERNAME/PASSWORD).
  if (uploadUrl)
    tools.push({
      tool: "twine",
      docs: [
        "https://packaging.python.org/en/latest/specifications/pypirc/",
        "https://twine.readthedocs.io/en/stable/",
      ],
      snippets: [
        {
          target: "~/.pypirc",
          text: `[distutils]\nindex-servers =\n    ${name}\n\n[${name}]\nrepository = ${uploadUrl}\nusername = ${user}\n# password: from TWINE_PASSWORD or a keyring, not this file\n`,
        },
        {
          target: "shell",
          text: `export TWINE_PASSWORD=${PASSWORD}   # from your secret store\ntwine upload --repository ${name} dist/*`,
        },
      ],
      pinning: "",
      notes: [],
    });
  else
    warnings.push(
      `no upload URL is known for ${redactUrl(indexUrl)}: twine is left out (give the upload URL as DESTINATION)`,
    );

  return {
    kind: story.kind,
    indexUrl,
    uploadUrl,
    name,
    credentials: { username: user, steps: story.steps, docs: story.docs },
    tools,
    warnings: [...story.notes, ...warnings],
  };
}
