/**
 * The netrc and simple-index HTML readers, judged by Python's own `netrc` and `html.parser` (what
 * pip and requests read these with): the same input must give the same entries and links.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseNetrc } from "../src/registries/netrc.js";
import {
  parseProjectListJson,
  parseProjectPageHtml,
  parseProjectPageJson,
} from "../src/registries/simple/parse.js";
import { z } from "zod";
import { PyregError } from "../src/core/errors.js";
import { normalizeName } from "../src/core/names.js";
import { tempDir } from "./helpers/tmp.js";
import { REPO_ROOT } from "./helpers/cli.js";
import { python3 } from "./helpers/tools.js";

function python(script: string, input: string): unknown {
  const r = spawnSync(python3(), ["-c", script], { input, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as unknown;
}

const PY_NETRC = `
import json, netrc, sys
try:
    n = netrc.netrc(sys.stdin.readline().strip())
    print(json.dumps({"hosts": {k: list(v) for k, v in n.hosts.items()}, "macros": sorted(n.macros)}))
except netrc.NetrcParseError as e:
    print(json.dumps({"error": True}))
`;

const NETRCS: Record<string, string> = {
  quoted: `machine a.example login "user one" password "two words"\n`,
  escapes: `machine a.example login u password pa\\ ss\\"x\nmachine b.example login v password "q\\"uote"\n`,
  macdef: `machine a.example login u password p\nmacdef init\ncd /pub\nget file\n\nmachine b.example login v password w\n`,
  comments: `# a comment line\nmachine a.example # trailing comment\n  login u # another\n  password p\n#machine b.example login x password y\nmachine c.example login w password "#not-a-comment"\n`,
  defaults: `machine a.example user u password p\ndefault login anon password guest\n`,
  repeated: `machine a.example login first password one\nmachine a.example login second password two\n`,
  account: `machine a.example login u account acct password p\n`,
  bad: `machine a.example login u password p\nbogus token\n`,
  unterminatedMacro: `macdef m\nline without end`,
};

describe("netrc: read as Python's netrc module reads it", () => {
  for (const [name, text] of Object.entries(NETRCS)) {
    test(name, async () => {
      const tmp = await tempDir();
      try {
        const file = join(tmp.path, "netrc");
        writeFileSync(file, text);
        const want = python(PY_NETRC, file + "\n") as {
          error?: boolean;
          hosts?: Record<string, string[]>;
          macros?: string[];
        };
        let got: typeof want;
        try {
          const n = parseNetrc(text);
          got = {
            hosts: Object.fromEntries([...n.hosts].map(([k, v]) => [k, [v.login, v.account, v.password]])),
            macros: [...n.macros.keys()].sort(),
          };
        } catch {
          got = { error: true };
        }
        assert.deepEqual(got, want);
      } finally {
        await tmp.cleanup();
      }
    });
  }
});

/**
 * pip's link collector: html.parser, <a> attributes as a dict. One deliberate difference: a
 * valueless `data-yanked` is yanked (PEP 592: the attribute's presence marks the file), where
 * html.parser's None value makes pip overlook it; the script below reports presence.
 */
const PY_LINKS = `
import json, sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []
        self.cur = None
    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.cur = {"attrs": dict(attrs), "text": ""}
            self.links.append(self.cur)
    def handle_endtag(self, tag):
        if tag == "a":
            self.cur = None
    def handle_data(self, data):
        if self.cur is not None:
            self.cur["text"] += data
p = P()
p.feed(sys.stdin.read())
p.close()
print(json.dumps([{"href": l["attrs"].get("href"), "yanked": (l["attrs"]["data-yanked"] or "") if "data-yanked" in l["attrs"] else None, "rp": l["attrs"].get("data-requires-python"), "text": l["text"].strip()} for l in p.links if l["attrs"].get("href")]))
`;

const PAGES: Record<string, string> = {
  comment: `<html><body><!-- <a href="old-1.0.tar.gz">old-1.0.tar.gz</a> --><a href="new-1.0.tar.gz">new-1.0.tar.gz</a></body></html>`,
  entities: `<a href="pkg-1.0.tar.gz?a=1&amp;b=2#sha256=${"a".repeat(64)}" data-requires-python="&gt;=3.8">pkg-1.0.tar.gz</a>`,
  attributeOrderAndCase: `<A data-yanked="broken &quot;build&quot;" HREF='pkg-2.0-py3-none-any.whl' Data-Requires-Python=">=3.9">pkg-2.0-py3-none-any.whl</A>`,
  unquoted: `<a href=pkg-3.0.tar.gz data-yanked>pkg-3.0.tar.gz</a>`,
  script: `<script>document.write('<a href="evil-1.0.tar.gz">evil-1.0.tar.gz</a>')</script><a href="pkg-4.0.tar.gz">pkg-4.0.tar.gz</a>`,
  nestedMarkup: `<a href="pkg-5.0.tar.gz"><b>pkg-5.0</b>.tar.gz</a>`,
};

describe("simple-index HTML: the links Python's html.parser finds", () => {
  for (const [name, html] of Object.entries(PAGES)) {
    test(name, () => {
      const want = python(PY_LINKS, html) as {
        href: string;
        yanked: string | null;
        rp: string | null;
        text: string;
      }[];
      const page = parseProjectPageHtml(html, "https://idx.example/simple/pkg/", "pkg");
      assert.deepEqual(
        page.files.map((f) => f.filename),
        want.map((w) => w.text),
      );
      assert.deepEqual(
        page.files.map((f) => f.requiresPython ?? null),
        want.map((w) => w.rp || null),
      );
      assert.deepEqual(
        page.files.map((f) => (f.yanked === undefined ? null : f.yanked === true ? "" : f.yanked)),
        want.map((w) => w.yanked),
      );
      assert.deepEqual(
        page.files.map((f) => f.url),
        want.map((w) => {
          const u = new URL(w.href, "https://idx.example/simple/pkg/");
          u.hash = "";
          return u.toString();
        }),
      );
    });
  }
});

describe("PEP 503 name normalization", () => {
  test("agrees with PEP 503's own Python function, names already normalized included", () => {
    // Every name of one to three characters over letters of both cases, digits and the three
    // separators (and one character outside them), plus longer ones of each shape.
    const alphabet = ["a", "Z", "0", "-", "_", ".", "+"];
    const names: string[] = [];
    const grow = (prefix: string, left: number): void => {
      if (prefix) names.push(prefix);
      if (left > 0) for (const c of alphabet) grow(prefix + c, left - 1);
    };
    grow("", 3);
    names.push("requests", "zope-interface", "Flask-SQLAlchemy", "a--b", "-lead", "trail-", "x1-y2-z3");
    const reference = python(
      'import json, re, sys\nprint(json.dumps([re.sub(r"[-_.]+", "-", n).lower() for n in json.load(sys.stdin)]))',
      JSON.stringify(names),
    ) as string[];
    assert.deepEqual(
      names.map((n) => normalizeName(n)),
      reference,
    );
  });
});

describe("PEP 691 project list", () => {
  const url = "http://127.0.0.1/simple/";
  const meta = { "api-version": "1.1" };
  test("names are normalized once each, in the index's order", () => {
    const text = JSON.stringify({
      meta,
      projects: [{ name: "Foo.Bar" }, { name: "baz" }, { name: "foo-bar" }],
    });
    assert.deepEqual(parseProjectListJson(text, url), ["foo-bar", "baz"]);
  });
  test("a list that is not one, or an entry without a string name, is a malformed index with where", () => {
    const bad = (body: unknown, where: RegExp): void =>
      assert.throws(
        () => parseProjectListJson(JSON.stringify(body), url),
        (err: unknown) =>
          err instanceof PyregError && err.code === "MALFORMED_INDEX" && where.test(err.message),
      );
    bad({ meta, projects: { name: "x" } }, /projects: expected an array/);
    bad({ meta, projects: [{ name: "a" }, { name: 3 }] }, /projects\.1\.name: expected a string/);
    bad({ meta, projects: [null] }, /projects\.0\.name/);
  });
});

describe("PEP 691 project page", () => {
  const url = "http://127.0.0.1/simple/pkg/";
  const meta = { "api-version": "1.1" };
  const file = {
    filename: "pkg-1.0-py3-none-any.whl",
    url: "../../files/pkg-1.0-py3-none-any.whl#sha256=ab",
    hashes: { SHA256: "AB", md5: "cd" },
  };
  const parse = (body: unknown): ReturnType<typeof parseProjectPageJson> =>
    parseProjectPageJson(JSON.stringify(body), url, "pkg");

  test("every field PEP 691 and PEP 700 give, with nulls and fields it does not know", () => {
    const page = parse({
      meta,
      name: "pkg",
      versions: ["1.0"],
      files: [
        {
          ...file,
          "requires-python": ">=3.8",
          "core-metadata": { sha256: "ef" },
          yanked: "broken",
          size: 12,
          "upload-time": "2024-01-01T00:00:00.000000Z",
          "x-extra": [1],
        },
        { ...file, filename: "pkg-1.0.tar.gz", "requires-python": null, yanked: false, size: null },
        {
          ...file,
          filename: "pkg-1.0-py2-none-any.whl",
          url: "/files/pkg-1.0-py2-none-any.whl",
          "dist-info-metadata": true,
          "core-metadata": null,
        },
      ],
    });
    assert.deepEqual(page.versions, ["1.0"]);
    assert.equal(page.apiVersion, "1.1");
    const [a, b, c] = page.files;
    assert.equal(a?.url, "http://127.0.0.1/files/pkg-1.0-py3-none-any.whl");
    assert.deepEqual(a?.hashes, { sha256: "ab", md5: "cd" });
    assert.equal(a?.requiresPython, ">=3.8");
    assert.equal(a?.yanked, "broken");
    assert.equal(a?.size, 12);
    assert.equal(a?.coreMetadataUrl, "http://127.0.0.1/files/pkg-1.0-py3-none-any.whl.metadata");
    assert.equal(b?.requiresPython, undefined);
    assert.equal(b?.size, undefined);
    assert.equal(b?.coreMetadataUrl, undefined);
    assert.equal(c?.coreMetadataUrl, "http://127.0.0.1/files/pkg-1.0-py2-none-any.whl.metadata");
  });

  test("a page or an entry of the wrong shape is a malformed index that says where", () => {
    const bad = (body: unknown, where: RegExp): void =>
      assert.throws(
        () => parse(body),
        (err: unknown) =>
          err instanceof PyregError && err.code === "MALFORMED_INDEX" && where.test(err.message),
        JSON.stringify(body),
      );
    const page = (f: Record<string, unknown>, extra: Record<string, unknown> = {}): unknown => ({
      meta,
      name: "pkg",
      files: [file, { ...file, ...f }],
      ...extra,
    });
    bad({ meta, name: "pkg", files: {} }, /\(files: /);
    bad({ meta, name: 3, files: [] }, /\(name: /);
    bad({ meta: {}, name: "pkg", files: [] }, /meta\.api-version/);
    bad(page({}, { versions: [1] }), /versions\.0/);
    bad(page({ filename: "" }), /files\.1\.filename/);
    bad(page({ url: 7 }), /files\.1\.url/);
    bad(page({ hashes: ["ab"] }), /files\.1\.hashes/);
    bad(page({ hashes: { sha256: 1 } }), /files\.1\.hashes\.sha256/);
    bad(page({ size: -1 }), /files\.1\.size/);
    bad(page({ size: 1.5 }), /files\.1\.size/);
    bad(page({ size: "12" }), /files\.1\.size/);
    bad(page({ yanked: 1 }), /files\.1\.yanked/);
    bad(page({ "core-metadata": "yes" }), /files\.1\.core-metadata/);
    bad(page({ "dist-info-metadata": { sha256: 2 } }), /files\.1\.dist-info-metadata/);
    bad(page({ "requires-python": 3 }), /files\.1\.requires-python/);
    bad(page({ "upload-time": 0 }), /files\.1\.upload-time/);
    bad({ ...(page({}) as object), files: [file, null] }, /files\.1/);
  });

  test("the problem is told in zod's English words, the same as zod's full API gives", () => {
    // pyreg uses zod/mini, which has no messages of its own unless English is configured: without
    // it every problem would read "Invalid input". zod's full API configures English for the whole
    // process when it is imported (as this file does), so pyreg's parser runs in a process of its own.
    // Each bad entry, with the schema zod's full API judges its value by.
    const size = z.number().int().nonnegative().nullish();
    const bad = [
      [{ filename: "" }, z.string().min(1)],
      [{ size: 1.5 }, size],
      [{ size: -1 }, size],
      [{ size: "12" }, size],
    ] as const;
    const cases = bad.map(([f]) => f);
    const parser = pathToFileURL(join(REPO_ROOT, "dist", "src", "registries", "simple", "parse.js")).href;
    const script = `const { parseProjectPageJson } = await import(${JSON.stringify(parser)});
const told = ${JSON.stringify(cases)}.map((f) => {
  try {
    parseProjectPageJson(JSON.stringify({ meta: ${JSON.stringify(meta)}, name: "pkg", files: [{ ...${JSON.stringify(file)}, ...f }] }), "${url}", "pkg");
    return "no error";
  } catch (err) {
    return err.message;
  }
});
process.stdout.write(JSON.stringify(told));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const told = JSON.parse(r.stdout) as string[];
    bad.forEach(([f, classic], i) => {
      const [field, value] = Object.entries(f)[0] as [string, unknown];
      const words = classic.safeParse(value).error?.issues[0]?.message ?? "none";
      assert.notEqual(words, "Invalid input");
      assert.ok(told[i]?.endsWith(`(files.0.${field}: ${words})`), `${told[i]} ends with ${words}`);
    });
  });
});
