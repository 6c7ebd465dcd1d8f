/** `pyreg print-settings` through the real CLI: per registry kind, the URLs, the credential story, no secret. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "./helpers/cli.js";

interface Settings {
  kind: string;
  indexUrl: string;
  uploadUrl?: string;
  credentials: { username: string; steps: string[]; docs: string[] };
  tools: { tool: string; docs: string[]; snippets: { target: string; text: string }[]; pinning: string }[];
  warnings: string[];
}

async function settings(args: string[]): Promise<{ s: Settings; text: string }> {
  const j = await runCli(["print-settings", ...args, "--json"]);
  assert.equal(j.code, 0, j.stderr);
  const t = await runCli(["print-settings", ...args]);
  assert.equal(t.code, 0, t.stderr);
  return { s: JSON.parse(j.stdout) as Settings, text: t.stdout + t.stderr + j.stdout + j.stderr };
}

const SECRET = "tok-3f9a7c1e5b";

test("Google Artifact Registry: keyring plugin or oauth2accesstoken; the token in the URL is not printed", async () => {
  const { s, text } = await settings([
    `https://oauth2accesstoken:${SECRET}@europe-west1-python.pkg.dev/proj/repo/`,
  ]);
  assert.ok(!text.includes(SECRET));
  assert.equal(s.kind, "gar");
  assert.equal(s.indexUrl, "https://europe-west1-python.pkg.dev/proj/repo/simple/");
  assert.equal(s.uploadUrl, "https://europe-west1-python.pkg.dev/proj/repo/");
  assert.equal(s.credentials.username, "oauth2accesstoken");
  assert.match(s.credentials.steps.join("\n"), /keyrings\.google-artifactregistry-auth/);
  assert.match(s.credentials.steps.join("\n"), /gcloud auth print-access-token/);
  assert.match(s.warnings.join("\n"), /credentials in the registry URL you gave are not printed/);
  assert.deepEqual(
    s.tools.map((t) => t.tool),
    ["pip", "uv", "poetry", "pdm", "pipenv", "requirements.txt", "twine"],
  );
  for (const t of s.tools)
    assert.ok(
      t.docs.every((d) => d.startsWith("https://")),
      t.tool,
    );
});

test("CodeArtifact: aws codeartifact login with the domain, owner and repository from the URL", async () => {
  const { s, text } = await settings([
    `https://aws:${SECRET}@acme-123456789012.d.codeartifact.eu-west-1.amazonaws.com/pypi/prod/`,
  ]);
  assert.ok(!text.includes(SECRET));
  assert.equal(s.kind, "codeartifact");
  assert.equal(
    s.indexUrl,
    "https://acme-123456789012.d.codeartifact.eu-west-1.amazonaws.com/pypi/prod/simple/",
  );
  assert.equal(s.credentials.username, "aws");
  assert.match(
    s.credentials.steps.join("\n"),
    /aws codeartifact login --tool pip --domain acme --domain-owner 123456789012 --repository prod --region eu-west-1/,
  );
});

test("GitLab: project index and upload URLs, token kinds and their usernames; a token as the only userinfo is not printed", async () => {
  const { s, text } = await settings([
    `gitlab+https://${SECRET}@gitlab.example.com/api/v4/projects/42/packages/pypi`,
  ]);
  assert.ok(!text.includes(SECRET));
  assert.equal(s.kind, "gitlab");
  assert.equal(s.indexUrl, "https://gitlab.example.com/api/v4/projects/42/packages/pypi/simple/");
  assert.equal(s.uploadUrl, "https://gitlab.example.com/api/v4/projects/42/packages/pypi");
  const steps = s.credentials.steps.join("\n");
  assert.match(steps, /__token__/);
  assert.match(steps, /deploy token/);
  assert.match(steps, /gitlab-ci-token.*CI_JOB_TOKEN/);
  const group = await settings(["gitlab+https://gitlab.example.com/api/v4/groups/7"]);
  assert.equal(group.s.indexUrl, "https://gitlab.example.com/api/v4/groups/7/-/packages/pypi/simple/");
  assert.equal(group.s.uploadUrl, undefined);
  assert.ok(!group.s.tools.some((t) => t.tool === "twine"), "a group takes no uploads");
});

test("Basic-auth registries: placeholders and variables only; --with-pypi produces the mix and the warning", async () => {
  const { s, text } = await settings([
    `https://user:${SECRET}@nexus.example.com/repository/py/`,
    "--name",
    "corp",
    "--with-pypi",
  ]);
  assert.ok(!text.includes(SECRET));
  assert.equal(s.kind, "nexus");
  assert.equal(s.indexUrl, "https://nexus.example.com/repository/py/simple/");
  assert.match(text, /DEPENDENCY CONFUSION/);
  const pip = s.tools.find((t) => t.tool === "pip");
  assert.match(
    pip?.snippets[0]?.text ?? "",
    /index-url = https:\/\/pypi\.org\/simple\/\nextra-index-url = https:\/\/nexus/,
  );
  const poetry = s.tools.find((t) => t.tool === "poetry");
  assert.match(
    poetry?.snippets.map((x) => x.text).join("\n") ?? "",
    /POETRY_HTTP_BASIC_CORP_PASSWORD=<PASSWORD>/,
  );
  assert.match(poetry?.pinning ?? "", /--priority=explicit/);
});

test("a folder is refused with a hint (tools install from a URL); an unknown --tool is a usage error", async () => {
  const r = await runCli(["print-settings", "./some-folder"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /pyreg serve/);
  const t = await runCli(["print-settings", "https://x.example/", "--tool", "conda"]);
  assert.equal(t.code, 2);
  assert.match(t.stderr, /unknown --tool conda/);
});
