/**
 * Selection rules (src/core/select/), one by one, against PEP 440 and wheel-tag edge cases:
 * epochs, local versions, post and dev releases, compressed tag sets.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { DistFile } from "../src/core/model.js";
import { PyregError } from "../src/core/errors.js";
import {
  factsOf,
  parseDate,
  parseProjectSpec,
  parseSize,
  rulesFrom,
  Selection,
  type SelectionOptions,
} from "../src/core/select/index.js";

function file(filename: string, version: string, extra: Partial<DistFile> = {}): DistFile {
  const project =
    extra.project ??
    filename
      .split("-")[0]!
      .replace(/[-_.]+/g, "-")
      .toLowerCase();
  return { project, version, filename, url: `file:///${filename}`, hashes: {}, ...extra };
}

/** The filenames a selection keeps, and the rule of each one left out. */
function run(
  opts: SelectionOptions,
  files: DistFile[],
): { kept: string[]; out: Record<string, string>; warnings: string[]; sel: Selection } {
  const sel = new Selection(rulesFrom(opts));
  const byProject = new Map<string, DistFile[]>();
  for (const f of files) byProject.set(f.project, [...(byProject.get(f.project) ?? []), f]);
  const kept: string[] = [];
  const out: Record<string, string> = {};
  for (const [project, fl] of byProject) {
    const p = sel.project(project);
    if (p) {
      for (const f of fl) out[f.filename] = p.rule;
      continue;
    }
    const chosen = sel.files(project, fl);
    for (const f of fl) {
      const why = chosen.filtered.get(f);
      if (why) {
        out[f.filename] = why.rule;
        assert.ok(why.reason.startsWith(`${why.rule}: `), `the reason names the rule: ${why.reason}`);
      } else kept.push(f.filename);
    }
  }
  return { kept: kept.sort(), out, warnings: sel.warnings(), sel };
}

function usageError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof PyregError && e.code === "USAGE" && pattern.test(e.message));
}

describe("project specs", () => {
  test("a glob, optionally followed by a PEP 440 specifier set; names normalized as PEP 503", () => {
    assert.deepEqual(parseProjectSpec("--include", "acme-utils"), { glob: "acme-utils" });
    assert.deepEqual(parseProjectSpec("--include", "acme-*"), { glob: "acme-*" });
    assert.deepEqual(parseProjectSpec("--include", "acme-utils>=2,<3"), {
      glob: "acme-utils",
      specifier: ">=2,<3",
    });
    assert.deepEqual(parseProjectSpec("--include", "Acme_Utils~=1.4"), {
      glob: "acme-utils",
      specifier: "~=1.4",
    });
    assert.deepEqual(parseProjectSpec("--include", "Acme..Utils == 2.*"), {
      glob: "acme-utils",
      specifier: "== 2.*",
    });
  });

  test("a specifier that is not PEP 440, or no name, is a usage error naming the option", () => {
    usageError(() => parseProjectSpec("--include", "acme-utils>=two"), /--include "acme-utils>=two"/);
    usageError(() => parseProjectSpec("--exclude", ">=2"), /--exclude/);
    usageError(() => parseProjectSpec("--include", "acme utils"), /--include/);
  });

  const files = [
    file("acme_utils-1.4.2-py3-none-any.whl", "1.4.2"),
    file("acme_utils-1.9-py3-none-any.whl", "1.9"),
    file("acme_utils-2.0-py3-none-any.whl", "2.0"),
    file("acme_utils-2.0+local.1-py3-none-any.whl", "2.0+local.1"),
    file("acme_utils-2.0.post1-py3-none-any.whl", "2.0.post1"),
    file("acme_utils-2.1rc1-py3-none-any.whl", "2.1rc1"),
    file("acme_utils-3.0.dev1-py3-none-any.whl", "3.0.dev1"),
    file("acme_utils-3.0rc1-py3-none-any.whl", "3.0rc1"),
    file("acme_utils-1!0.1-py3-none-any.whl", "1!0.1"),
    file("acme_utils-2004d.tar.gz", "2004d"),
    file("other-2.0.tar.gz", "2.0"),
  ];

  test(">=2,<3: pre-releases inside the range are in, pre-releases of 3 are not (PEP 440 exclusive <), the epoch 1 is above", () => {
    const r = run({ include: ["acme-utils>=2,<3"] }, files);
    assert.deepEqual(r.kept, [
      "acme_utils-2.0+local.1-py3-none-any.whl",
      "acme_utils-2.0-py3-none-any.whl",
      "acme_utils-2.0.post1-py3-none-any.whl",
      "acme_utils-2.1rc1-py3-none-any.whl",
    ]);
    assert.equal(r.out["other-2.0.tar.gz"], "--include acme-utils>=2,<3");
    assert.equal(r.out["acme_utils-1!0.1-py3-none-any.whl"], "--include acme-utils>=2,<3");
    assert.equal(r.out["acme_utils-3.0rc1-py3-none-any.whl"], "--include acme-utils>=2,<3");
    assert.equal(
      r.out["acme_utils-2004d.tar.gz"],
      "--include acme-utils>=2,<3",
      "not PEP 440: no specifier matches",
    );
  });

  test("==2.0 matches the local version 2.0+local.1 but not the post release; ==2.* matches both and 2.1rc1", () => {
    assert.deepEqual(run({ include: ["acme-utils==2.0"] }, files).kept, [
      "acme_utils-2.0+local.1-py3-none-any.whl",
      "acme_utils-2.0-py3-none-any.whl",
    ]);
    assert.deepEqual(run({ include: ["acme-utils==2.*"] }, files).kept, [
      "acme_utils-2.0+local.1-py3-none-any.whl",
      "acme_utils-2.0-py3-none-any.whl",
      "acme_utils-2.0.post1-py3-none-any.whl",
      "acme_utils-2.1rc1-py3-none-any.whl",
    ]);
  });

  test("~=1.4 with a non-normalized name; >=1!0 keeps only the epoch 1 version", () => {
    assert.deepEqual(run({ include: ["Acme_Utils~=1.4"] }, files).kept, [
      "acme_utils-1.4.2-py3-none-any.whl",
      "acme_utils-1.9-py3-none-any.whl",
    ]);
    assert.deepEqual(run({ include: ["acme-utils>=1!0"] }, files).kept, [
      "acme_utils-1!0.1-py3-none-any.whl",
    ]);
  });

  test("several --include: any of them keeps a file; an --include with no specifier keeps the whole project", () => {
    const r = run({ include: ["acme-utils==1.9", "other"] }, files);
    assert.deepEqual(r.kept, ["acme_utils-1.9-py3-none-any.whl", "other-2.0.tar.gz"]);
    assert.deepEqual(r.warnings, []);
  });

  test("--exclude with a specifier leaves out those versions only; without one, the project", () => {
    const r = run({ exclude: ["acme-utils<2", "other"] }, files);
    assert.equal(r.out["acme_utils-1.9-py3-none-any.whl"], "--exclude acme-utils<2");
    assert.equal(r.out["acme_utils-1.4.2-py3-none-any.whl"], "--exclude acme-utils<2");
    assert.equal(r.out["other-2.0.tar.gz"], "--exclude other");
    assert.ok(r.kept.includes("acme_utils-1!0.1-py3-none-any.whl"), "epoch 1 is not < 2");
    assert.ok(r.kept.includes("acme_utils-2004d.tar.gz"), "a non-PEP 440 version is in no specifier set");
  });

  test("an --include or --exclude that matched nothing is a warning", () => {
    const r = run({ include: ["acme-utils==9.*", "nope-*", "other"], exclude: ["zzz"] }, files);
    assert.deepEqual(r.warnings, [
      "--include acme-utils==9.* matched no file (no version of the matching projects is in the specifier set)",
      "--include nope-* matched no project",
      "--exclude zzz matched no project",
    ]);
  });
});

describe("pre-releases", () => {
  const files = [
    file("p-1.0a1-py3-none-any.whl", "1.0a1"),
    file("p-1.0b2.tar.gz", "1.0b2"),
    file("p-1.0rc1.post1-py3-none-any.whl", "1.0rc1.post1"),
    file("p-1.0.dev3-py3-none-any.whl", "1.0.dev3"),
    file("p-1.0.post1.dev1-py3-none-any.whl", "1.0.post1.dev1"),
    file("p-1.0-py3-none-any.whl", "1.0"),
    file("p-1.0.post2-py3-none-any.whl", "1.0.post2"),
    file("p-1!2.0c1-py3-none-any.whl", "1!2.0c1"),
    file("p-2004d.tar.gz", "2004d"),
  ];
  test("exclude: a, b, rc (c), dev releases and post releases of them; final and post releases stay", () => {
    const r = run({ prereleases: "exclude" }, files);
    assert.deepEqual(r.kept, ["p-1.0-py3-none-any.whl", "p-1.0.post2-py3-none-any.whl", "p-2004d.tar.gz"]);
    assert.equal(Object.keys(r.out).length, 6);
    for (const rule of Object.values(r.out)) assert.equal(rule, "--prereleases exclude");
  });
  test("include (the default) is no rule at all", () => {
    assert.deepEqual(rulesFrom({ prereleases: "include" }), []);
    assert.equal(run({}, files).kept.length, files.length);
  });
  test("exclude with no pre-release at the source warns that it left nothing out", () => {
    const r = run({ prereleases: "exclude" }, [file("p-1.0-py3-none-any.whl", "1.0")]);
    assert.deepEqual(r.warnings, ["--prereleases exclude matched no file: it left nothing out"]);
  });
});

describe("wheel tags", () => {
  test("compressed tag sets are split", () => {
    assert.deepEqual(factsOf("six-1.16.0-py2.py3-none-any.whl"), {
      type: "wheel",
      pythonTags: ["py2", "py3"],
      platformTags: ["any"],
    });
    assert.deepEqual(
      factsOf("numpy-2.0.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl").platformTags,
      ["manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    );
    assert.deepEqual(factsOf("pkg-1.0-1-py3-none-any.whl").pythonTags, ["py3"], "build tag");
    assert.equal(factsOf("pkg-1.0.tar.gz").type, "sdist");
    assert.equal(factsOf("pkg-1.0-py2.7.egg").type, "other");
    assert.equal(factsOf("pkg-1.0.win32.exe").type, "other");
  });

  const wheels = [
    file("w-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "1.0"),
    file("w-1.0-cp312-cp312-musllinux_1_2_aarch64.whl", "1.0"),
    file("w-1.0-cp312-cp312-linux_armv7l.whl", "1.0"),
    file("w-1.0-cp312-cp312-macosx_10_9_universal2.whl", "1.0"),
    file("w-1.0-cp312-cp312-win32.whl", "1.0"),
    file("w-1.0-cp312-cp312-win_arm64.whl", "1.0"),
    file("w-1.0-cp27-cp27mu-manylinux1_x86_64.whl", "1.0"),
    file("w-1.0-py2.py3-none-any.whl", "1.0"),
    file("w-1.0-py2-none-any.whl", "1.0"),
    file("w-1.0-cp313-cp313-ios_13_0_arm64_iphoneos.whl", "1.0"),
    file("w-1.0.tar.gz", "1.0"),
    file("w-1.0-py2.7.egg", "1.0"),
  ];

  test("--platforms linux: manylinux (PEP 600 and legacy), musllinux, linux_*; sdists and other files are not judged", () => {
    const r = run({ platforms: ["linux"] }, wheels);
    assert.deepEqual(r.kept, [
      "w-1.0-cp27-cp27mu-manylinux1_x86_64.whl",
      "w-1.0-cp312-cp312-linux_armv7l.whl",
      "w-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
      "w-1.0-cp312-cp312-musllinux_1_2_aarch64.whl",
      "w-1.0-py2.7.egg",
      "w-1.0.tar.gz",
    ]);
    assert.equal(
      r.out["w-1.0-py2.py3-none-any.whl"],
      "--platforms linux",
      "a pure wheel is 'any', not linux",
    );
  });

  test("--platforms macos,any and --platforms with a tag glob", () => {
    assert.deepEqual(run({ platforms: ["macos,any"], packageTypes: ["wheel"] }, wheels).kept, [
      "w-1.0-cp312-cp312-macosx_10_9_universal2.whl",
      "w-1.0-py2-none-any.whl",
      "w-1.0-py2.py3-none-any.whl",
    ]);
    assert.deepEqual(run({ platforms: ["*musllinux*"], packageTypes: ["wheel"] }, wheels).kept, [
      "w-1.0-cp312-cp312-musllinux_1_2_aarch64.whl",
    ]);
    assert.deepEqual(run({ platforms: ["manylinux2014_*"], packageTypes: ["wheel"] }, wheels).kept, [
      "w-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    ]);
  });

  test("--exclude-platforms windows,*musllinux*: a file is left out only when all its platform tags are", () => {
    const r = run({ excludePlatforms: ["windows", "*musllinux*"] }, wheels);
    assert.deepEqual(Object.keys(r.out).sort(), [
      "w-1.0-cp312-cp312-musllinux_1_2_aarch64.whl",
      "w-1.0-cp312-cp312-win32.whl",
      "w-1.0-cp312-cp312-win_arm64.whl",
    ]);
    const half = run({ excludePlatforms: ["manylinux2014_*"] }, wheels);
    assert.deepEqual(half.out, {}, "manylinux_2_17_x86_64 is still wanted");
    assert.deepEqual(half.warnings, [
      "--exclude-platforms manylinux2014_* matched no file: it left nothing out",
    ]);
  });

  test("--exclude-python-tags py2,cp27: a py2.py3 wheel stays, py2 and cp27 wheels go", () => {
    const r = run({ excludePythonTags: ["py2", "cp27"] }, wheels);
    assert.deepEqual(Object.keys(r.out).sort(), [
      "w-1.0-cp27-cp27mu-manylinux1_x86_64.whl",
      "w-1.0-py2-none-any.whl",
    ]);
    assert.ok(r.kept.includes("w-1.0-py2.py3-none-any.whl"));
    assert.ok(r.kept.includes("w-1.0.tar.gz"), "sdists have no python tag to judge");
    assert.deepEqual(Object.keys(run({ excludePythonTags: ["cp2*", "py2"] }, wheels).out).sort(), [
      "w-1.0-cp27-cp27mu-manylinux1_x86_64.whl",
      "w-1.0-py2-none-any.whl",
    ]);
  });

  test("--python-tags py3,cp313: a wheel with any of them stays", () => {
    const r = run({ pythonTags: ["py3", "cp313"], packageTypes: ["wheel"] }, wheels);
    assert.deepEqual(r.kept, ["w-1.0-cp313-cp313-ios_13_0_arm64_iphoneos.whl", "w-1.0-py2.py3-none-any.whl"]);
  });

  test("--package-types: wheel, sdist, other", () => {
    assert.deepEqual(run({ packageTypes: ["sdist,other"] }, wheels).kept, [
      "w-1.0-py2.7.egg",
      "w-1.0.tar.gz",
    ]);
    assert.equal(run({ packageTypes: ["sdist"] }, wheels).out["w-1.0-py2.7.egg"], "--package-types sdist");
    usageError(() => rulesFrom({ packageTypes: ["wheels"] }), /--package-types: unknown type "wheels"/);
  });

  test("a platform or tag value that is not a tag glob is a usage error", () => {
    usageError(() => rulesFrom({ platforms: ["linux/x86"] }), /--platforms: "linux\/x86"/);
    usageError(
      () => rulesFrom({ excludePythonTags: [","] }),
      /--exclude-python-tags needs at least one value/,
    );
  });
});

describe("--latest", () => {
  const files = [
    file("l-1.0-py3-none-any.whl", "1.0"),
    file("l-1.0.0.tar.gz", "1.0.0"),
    file("l-2.0-py3-none-any.whl", "2.0"),
    file("l-2.0.tar.gz", "2.0"),
    file("l-10.0-py3-none-any.whl", "10.0"),
    file("l-10.0+cuda-py3-none-any.whl", "10.0+cuda"),
    file("l-11.0rc1-py3-none-any.whl", "11.0rc1"),
    file("l-0!9.0.post1-py3-none-any.whl", "0!9.0.post1"),
    file("l-1!0.1-py3-none-any.whl", "1!0.1"),
    file("l-weird.tar.gz", "weird"),
  ];
  test("PEP 440 order: the epoch first, 10.0 above 2.0 (not as strings), a local version is its own", () => {
    const r = run({ latest: 3 }, files);
    assert.deepEqual(r.kept, [
      "l-1!0.1-py3-none-any.whl",
      "l-10.0+cuda-py3-none-any.whl",
      "l-11.0rc1-py3-none-any.whl",
    ]);
    assert.equal(r.out["l-weird.tar.gz"], "--latest 3");
  });
  test("after the other rules: --prereleases exclude --latest 2 ranks what is left", () => {
    const r = run({ latest: 2, prereleases: "exclude", exclude: ["l>=1!0"] }, files);
    assert.deepEqual(r.kept, ["l-10.0+cuda-py3-none-any.whl", "l-10.0-py3-none-any.whl"]);
    assert.equal(r.out["l-11.0rc1-py3-none-any.whl"], "--prereleases exclude");
    assert.equal(r.out["l-2.0.tar.gz"], "--latest 2");
  });
  test("1.0 and 1.0.0 are one version: every file of it is kept together", () => {
    const r = run({ latest: 1, exclude: ["l>1"] }, files.slice(0, 2));
    assert.deepEqual(r.kept, ["l-1.0-py3-none-any.whl", "l-1.0.0.tar.gz"]);
  });
  test("two spellings of one version on either side of the cut are kept or left out together", () => {
    const spelled = [
      file("s-3.0-py3-none-any.whl", "3.0"),
      file("s-2.0.0.tar.gz", "2.0.0"),
      file("s-2-py3-none-any.whl", "2"),
      file("s-2.0-py2-none-any.whl", "2.0"),
      file("s-1.0.tar.gz", "1.0"),
      file("s-1.0.0-py3-none-any.whl", "1.0.0"),
    ];
    const r = run({ latest: 2 }, spelled);
    assert.deepEqual(r.kept, [
      "s-2-py3-none-any.whl",
      "s-2.0-py2-none-any.whl",
      "s-2.0.0.tar.gz",
      "s-3.0-py3-none-any.whl",
    ]);
    assert.equal(r.out["s-1.0.tar.gz"], "--latest 2");
    assert.equal(r.out["s-1.0.0-py3-none-any.whl"], "--latest 2");
  });
  test("--latest 0 is refused", () => {
    usageError(() => rulesFrom({ latest: 0 }), /--latest/);
  });
});

describe("upload time and size", () => {
  const files = [
    file("t-1.0.tar.gz", "1.0", { uploadTime: "2023-12-31T23:59:59.999999Z", size: 1000 }),
    file("t-2.0.tar.gz", "2.0", { uploadTime: "2024-01-01T00:00:00Z", size: 1001 }),
    file("t-3.0.tar.gz", "3.0", { uploadTime: "2024-06-01T12:00:00.000000Z", size: 2 * 1024 * 1024 }),
    file("t-4.0.tar.gz", "4.0"),
  ];
  test("--uploaded-since is inclusive, --uploaded-before exclusive; an unknown time is left out and counted", () => {
    const r = run({ uploadedSince: "2024-01-01" }, files);
    assert.deepEqual(r.kept, ["t-2.0.tar.gz", "t-3.0.tar.gz"]);
    assert.equal(r.out["t-4.0.tar.gz"], "--uploaded-since 2024-01-01");
    assert.deepEqual(r.warnings, [
      "--uploaded-since 2024-01-01: 1 file with no upload time at the source left out (listed as filtered)",
    ]);
    const b = run({ uploadedBefore: "2024-01-01T00:00:00Z" }, files);
    assert.deepEqual(b.kept, ["t-1.0.tar.gz"]);
    // Microseconds count: 12:00:00.000000 is before 12:00:00.000001 (milliseconds would call them equal).
    const both = run(
      { uploadedSince: "2024-01-01T00:00:00.000001+00:00", uploadedBefore: "2024-06-01T12:00:00.000001Z" },
      files,
    );
    assert.deepEqual(both.kept, ["t-3.0.tar.gz"]);
    const edge = run(
      { uploadedSince: "2023-12-31T23:59:59.999999Z", uploadedBefore: "2024-01-01T00:00:00.000000Z" },
      files,
    );
    assert.deepEqual(edge.kept, ["t-1.0.tar.gz"]);
  });
  test("dates: YYYY-MM-DD or ISO 8601; impossible dates are refused", () => {
    assert.equal(parseDate("--uploaded-since", "2024-02-29"), Date.parse("2024-02-29T00:00:00Z") * 1000);
    assert.equal(parseDate("--x", "2024-02-29T10:00+0130"), Date.parse("2024-02-29T08:30:00Z") * 1000);
    assert.equal(
      parseDate("--x", "2024-02-29T10:00:00.123456Z"),
      Date.parse("2024-02-29T10:00:00Z") * 1000 + 123456,
    );
    usageError(
      () => parseDate("--uploaded-since", "2023-02-29"),
      /--uploaded-since "2023-02-29" is not a date/,
    );
    usageError(() => parseDate("--uploaded-before", "last week"), /--uploaded-before/);
  });
  test("--max-file-size: the limit itself is kept; SI and IEC units; unknown size left out and counted", () => {
    const r = run({ maxFileSize: "1kB" }, files);
    assert.deepEqual(r.kept, ["t-1.0.tar.gz"]);
    assert.equal(r.out["t-2.0.tar.gz"], "--max-file-size 1kB");
    assert.match(r.warnings.join("\n"), /--max-file-size 1kB: 1 file with no size at the source/);
    assert.deepEqual(run({ maxFileSize: "2MiB" }, files).kept, [
      "t-1.0.tar.gz",
      "t-2.0.tar.gz",
      "t-3.0.tar.gz",
    ]);
    assert.equal(parseSize("--max-file-size", "1.5GiB"), 1.5 * 2 ** 30);
    assert.equal(parseSize("--max-file-size", "50MB"), 50_000_000);
    assert.equal(parseSize("--max-file-size", "123"), 123);
    usageError(
      () => parseSize("--max-file-size", "10 parsecs"),
      /--max-file-size "10 parsecs" is not a size/,
    );
  });
});

describe("rules combined", () => {
  test("the first rule in order is the one named; each rule counts its matches on its own", () => {
    const r = run({ include: ["a>=2"], prereleases: "exclude", packageTypes: ["wheel"] }, [
      file("a-1.0a1.tar.gz", "1.0a1"),
      file("a-2.1a1.tar.gz", "2.1a1"),
      file("a-2.0-py3-none-any.whl", "2.0"),
    ]);
    assert.deepEqual(r.out, {
      "a-1.0a1.tar.gz": "--include a>=2",
      "a-2.1a1.tar.gz": "--prereleases exclude",
    });
    assert.deepEqual(r.kept, ["a-2.0-py3-none-any.whl"]);
    assert.deepEqual(r.warnings, []);
  });
  test("files an adapter already left out are not judged again", () => {
    const sel = new Selection(rulesFrom({ latest: 1 }));
    const gone = file("a-3.0.tar.gz", "3.0", { notes: { filtered: "gitlab status hidden" } });
    const kept = file("a-2.0.tar.gz", "2.0");
    const r = sel.files("a", [gone, kept]);
    assert.equal(r.filtered.size, 0);
  });
});

describe("pins (--requirements)", () => {
  const sha = (c: string): string => c.repeat(64);
  const files = [
    file("req-1.0-py3-none-any.whl", "1.0", { hashes: { sha256: sha("a") } }),
    file("req-1.0.tar.gz", "1.0", { hashes: { sha256: sha("b") } }),
    file("req-2.0-py3-none-any.whl", "2.0", { hashes: { sha256: sha("c") } }),
    file("dep-0.1-py3-none-any.whl", "0.1", { hashes: { sha256: sha("d") } }),
    file("other-9.0.tar.gz", "9.0", { hashes: { sha256: sha("e") } }),
  ];
  test("by filename and sha256: exactly the pinned files; other projects are left out whole", () => {
    const r = run(
      {
        requirements: ["pylock.toml"],
        pins: [
          {
            project: "Req",
            version: "1.0",
            files: [{ filename: "req-1.0.tar.gz", sha256: sha("b") }],
            origin: "pylock.toml",
          },
          { project: "dep", version: "0.1", files: [{ sha256: sha("d") }], origin: "requirements.txt:3" },
        ],
      },
      files,
    );
    assert.deepEqual(r.kept, ["dep-0.1-py3-none-any.whl", "req-1.0.tar.gz"]);
    assert.equal(r.out["other-9.0.tar.gz"], "--requirements pylock.toml");
    assert.equal(r.out["req-2.0-py3-none-any.whl"], "--requirements pylock.toml");
  });
  test("a tampered hash, a missing file and a missing project are problems", () => {
    const sel = new Selection(
      rulesFrom({
        requirements: ["uv.lock"],
        pins: [
          {
            project: "req",
            version: "1.0",
            files: [
              { filename: "req-1.0.tar.gz", sha256: sha("f") },
              { filename: "req-1.0-cp39-cp39-win32.whl", sha256: sha("a") },
            ],
            origin: "uv.lock",
          },
          { project: "dep", version: "0.1", files: [{ sha256: sha("9") }], origin: "requirements.txt:3" },
          { project: "ghost", version: "1", files: [], origin: "uv.lock" },
        ],
      }),
    );
    const req = sel.files("req", files.slice(0, 3));
    assert.equal(req.filtered.size, 3, "the tampered file is not moved");
    assert.match(req.filtered.get(files[1]!)?.reason ?? "", /sha256 is not the one the lock pins/);
    assert.deepEqual(
      req.problems.map((p) => p.filename),
      ["req-1.0.tar.gz", "req-1.0-cp39-cp39-win32.whl"],
    );
    assert.match(
      req.problems[0]!.reason,
      new RegExp(`has sha256 ${sha("b")}, the lock \\(uv.lock\\) says ${sha("f")}`),
    );
    assert.match(req.problems[1]!.reason, /req-1.0-cp39-cp39-win32.whl \(uv.lock\) is not at the source/);
    const dep = sel.files("dep", [files[3]!]);
    assert.match(dep.problems[0]!.reason, /no file of dep 0.1 at the source has sha256 9{64}/);
    const unlisted = sel.unlistedPins(["req", "dep"]);
    assert.deepEqual(
      unlisted.map((p) => p.project),
      ["ghost"],
    );
    assert.deepEqual(
      sel.unlistedPins(["req", "dep"], (p) => p !== "ghost"),
      [],
      "a pinned project of another shard is not this run's problem",
    );
  });
});
