/** Recognition of every recipe shape, GAR and CodeArtifact hosts, and the URLs each derives. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { kindFor } from "../src/registries/index.js";
import { parseSpec } from "../src/registries/spec.js";
import { RECIPES, recognizeRecipe } from "../src/registries/recipes/index.js";
import { parseGarUrl } from "../src/registries/gar/url.js";
import { parseCodeArtifactUrl } from "../src/registries/codeartifact/index.js";

const kindOf = (raw: string): string => kindFor(parseSpec(raw)).name;
const recipe = (name: string) => {
  const r = RECIPES.find((x) => x.name === name);
  assert.ok(r, name);
  return r;
};

describe("recipes: recognition by URL shape", () => {
  const cases: [string, string][] = [
    ["https://pkgs.dev.azure.com/contoso/_packaging/feed/pypi/upload/", "azure"],
    ["https://pkgs.dev.azure.com/contoso/web/_packaging/feed/pypi/simple/", "azure"],
    ["https://pkgs.dev.azure.com/contoso/web/_packaging/feed@Local/pypi/upload", "azure"],
    ["https://contoso.pkgs.visualstudio.com/_packaging/feed/pypi/simple/", "azure"],
    ["https://acme.jfrog.io/artifactory/api/pypi/pypi-local", "artifactory"],
    ["https://repo.example.com/artifactory/api/pypi/pypi-local/simple/", "artifactory"],
    ["https://nexus.example.com/repository/pypi-hosted/", "nexus"],
    ["https://nexus.example.com/repository/pypi-hosted/simple/", "nexus"],
    ["https://example.com/nexus/repository/pypi-hosted/", "nexus"],
    ["https://devpi.example.com/alice/dev/+simple/", "devpi"],
    ["devpi+https://devpi.example.com/alice/dev/", "devpi"],
    ["pypiserver+http://127.0.0.1:8080/", "pypiserver"],
    ["https://us-central1-python.pkg.dev/my-proj/my-repo/", "gar"],
    ["https://europe-west4-python.pkg.dev/my-proj/my-repo/simple/", "gar"],
    ["gar+http://127.0.0.1:9/p/r/", "gar"],
    ["https://my-domain-111122223333.d.codeartifact.us-east-1.amazonaws.com/pypi/my-repo/", "codeartifact"],
    ["codeartifact+http://127.0.0.1:9/pypi/r/", "codeartifact"],
    // Nothing recognizable: the generic kind.
    ["http://127.0.0.1:8080/", "simple"],
    ["https://pypi.org/simple/", "simple"],
    ["https://gitlab.example.com/api/v4/projects/1/packages/pypi/simple/", "simple"],
    ["https://example.com/repository/", "simple"],
    ["https://pkgs.dev.azure.com/contoso/_packaging/feed/nuget/v3/index.json", "simple"],
    ["https://us-central1-docker.pkg.dev/p/r/", "simple"],
  ];
  for (const [raw, kind] of cases) {
    test(`${raw} → ${kind}`, () => {
      const got = kindOf(raw);
      // GitLab may be claimed by its own kind (another adapter); everything else is ours to judge.
      if (raw.includes("gitlab")) assert.ok(got === "simple" || got === "gitlab");
      else assert.equal(got, kind);
    });
  }

  test("pypiserver is never recognized without its prefix", () => {
    assert.equal(recognizeRecipe(new URL("http://127.0.0.1:8080/")), undefined);
  });
});

describe("recipes: upload URL ↔ index URL", () => {
  const cases: [string, string, string, string][] = [
    [
      "azure",
      "https://pkgs.dev.azure.com/contoso/web/_packaging/feed/pypi/simple/",
      "https://pkgs.dev.azure.com/contoso/web/_packaging/feed/pypi/upload/",
      "https://pkgs.dev.azure.com/contoso/web/_packaging/feed/pypi/simple/",
    ],
    [
      "azure",
      "https://pkgs.dev.azure.com/contoso/_packaging/feed/pypi/upload",
      "https://pkgs.dev.azure.com/contoso/_packaging/feed/pypi/upload/",
      "https://pkgs.dev.azure.com/contoso/_packaging/feed/pypi/simple/",
    ],
    [
      "artifactory",
      "https://acme.jfrog.io/artifactory/api/pypi/pypi-local/simple",
      "https://acme.jfrog.io/artifactory/api/pypi/pypi-local",
      "https://acme.jfrog.io/artifactory/api/pypi/pypi-local/simple/",
    ],
    [
      "nexus",
      "https://nexus.example.com/repository/pypi-hosted",
      "https://nexus.example.com/repository/pypi-hosted/",
      "https://nexus.example.com/repository/pypi-hosted/simple/",
    ],
    [
      "devpi",
      "https://devpi.example.com/alice/dev/+simple/",
      "https://devpi.example.com/alice/dev/",
      "https://devpi.example.com/alice/dev/+simple/",
    ],
    [
      "devpi",
      "https://example.com/devpi/alice/dev",
      "https://example.com/devpi/alice/dev/",
      "https://example.com/devpi/alice/dev/+simple/",
    ],
    ["pypiserver", "http://127.0.0.1:8080", "http://127.0.0.1:8080/", "http://127.0.0.1:8080/simple/"],
    [
      "pypiserver",
      "http://127.0.0.1:8080/simple/",
      "http://127.0.0.1:8080/",
      "http://127.0.0.1:8080/simple/",
    ],
  ];
  for (const [name, given, upload, index] of cases) {
    test(`${name}: ${given}`, () => {
      assert.deepEqual(recipe(name).urls(new URL(given)), { uploadUrl: upload, indexUrl: index });
    });
  }

  test("credentials in the URL never reach the derived URLs", () => {
    const u = recipe("nexus").urls(new URL("https://bob:s3cret@nexus.example.com/repository/py/"));
    assert.equal(u.uploadUrl, "https://nexus.example.com/repository/py/");
    assert.ok(!u.indexUrl.includes("s3cret"));
  });

  test("a URL of the wrong shape for a forced recipe is a usage error", () => {
    assert.throws(
      () => recipe("azure").urls(new URL("https://pkgs.dev.azure.com/contoso/")),
      /does not look like/,
    );
  });

  test("each recipe's duplicate answer matches the documented text", () => {
    assert.match("Not enough permissions to overwrite artifact 'x'", recipe("artifactory").existsAnswer);
    assert.match("Repository does not allow updating assets: pypi-hosted", recipe("nexus").existsAnswer);
    assert.match("Upload of identical file to non volatile index.", recipe("devpi").existsAnswer);
    assert.match("Package 'x-1.0.tar.gz' already exists!", recipe("pypiserver").existsAnswer);
    assert.doesNotMatch("Internal Server Error", recipe("nexus").existsAnswer);
  });
});

describe("GAR and CodeArtifact URLs", () => {
  test("GAR: location, project, repository, upload and index URLs", () => {
    const r = parseGarUrl(
      new URL("https://oauth2accesstoken:tok@us-central1-python.pkg.dev/my-proj/my-repo/simple/"),
    );
    assert.deepEqual(r, {
      repoUrl: "https://us-central1-python.pkg.dev/my-proj/my-repo/",
      indexUrl: "https://us-central1-python.pkg.dev/my-proj/my-repo/simple/",
      project: "my-proj",
      repository: "my-repo",
      location: "us-central1",
    });
    assert.equal(parseGarUrl(new URL("http://127.0.0.1:9/p/r")).location, undefined);
    assert.throws(
      () => parseGarUrl(new URL("https://us-python.pkg.dev/only-project/")),
      /not an Artifact Registry/,
    );
  });

  test("CodeArtifact: domain, owner and region from the host; env for a forced URL", () => {
    const r = parseCodeArtifactUrl(
      new URL("https://my-domain-111122223333.d.codeartifact.eu-west-1.amazonaws.com/pypi/my-repo/simple/"),
    );
    assert.equal(r.domain, "my-domain");
    assert.equal(r.domainOwner, "111122223333");
    assert.equal(r.region, "eu-west-1");
    assert.equal(r.repository, "my-repo");
    assert.equal(
      r.repoUrl,
      "https://my-domain-111122223333.d.codeartifact.eu-west-1.amazonaws.com/pypi/my-repo/",
    );
    assert.equal(r.indexUrl, r.repoUrl + "simple/");
    const f = parseCodeArtifactUrl(new URL("http://127.0.0.1:9/pypi/r/"), {
      PYREG_CODEARTIFACT_DOMAIN: "d",
      PYREG_CODEARTIFACT_DOMAIN_OWNER: "123456789012",
      PYREG_CODEARTIFACT_REGION: "us-west-2",
    });
    assert.deepEqual([f.domain, f.domainOwner, f.region], ["d", "123456789012", "us-west-2"]);
    assert.throws(() => parseCodeArtifactUrl(new URL("http://127.0.0.1:9/npm/r/")), /not a CodeArtifact/);
  });
});
