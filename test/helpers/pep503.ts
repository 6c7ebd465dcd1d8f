/**
 * A static PEP 503 simple index of a folder of distributions, written as plain HTML files (by this
 * helper, not by pyreg) and served by nginx: the kind of index a script and a web server make, as
 * a source that pyreg did not write.
 * (https://packaging.python.org/en/latest/specifications/simple-repository-api/)
 */
import { createHash } from "node:crypto";
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startStaticFolder, type StaticSite } from "./staticIndex.js";
import { tempDir } from "./tmp.js";

export interface StaticIndex extends StaticSite {
  /** `url + "simple/"` */
  indexUrl: string;
  /** Writes the index again from the folder (after files were added or removed there). */
  refresh(): Promise<void>;
}

/** The project name of a wheel or sdist filename, normalized as PEP 503 says. */
function projectOf(filename: string): string | undefined {
  let name: string | undefined;
  if (filename.endsWith(".whl")) name = filename.split("-")[0];
  else {
    const m = /^(.+)-[^-]+\.(tar\.gz|zip)$/.exec(filename);
    name = m?.[1];
  }
  return name?.toLowerCase().replace(/[-_.]+/g, "-");
}

const escape = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

async function write(distDir: string, root: string): Promise<void> {
  await rm(join(root, "simple"), { recursive: true, force: true });
  await rm(join(root, "files"), { recursive: true, force: true });
  await mkdir(join(root, "files"), { recursive: true });
  const projects = new Map<string, string[]>();
  for (const filename of (await readdir(distDir)).sort()) {
    const project = projectOf(filename);
    if (!project) continue;
    const bytes = await readFile(join(distDir, filename));
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    await copyFile(join(distDir, filename), join(root, "files", filename));
    const links = projects.get(project) ?? [];
    links.push(
      `    <a href="../../files/${encodeURIComponent(filename)}#sha256=${sha256}">${escape(filename)}</a><br>`,
    );
    projects.set(project, links);
  }
  const page = (title: string, body: string[]): string =>
    [
      "<!DOCTYPE html>",
      "<html>",
      "  <head>",
      '    <meta name="pypi:repository-version" content="1.0">',
      `    <title>${escape(title)}</title>`,
      "  </head>",
      "  <body>",
      ...body,
      "  </body>",
      "</html>",
      "",
    ].join("\n");
  await mkdir(join(root, "simple"), { recursive: true });
  const names = [...projects.keys()].sort();
  await writeFile(
    join(root, "simple", "index.html"),
    page(
      "Simple index",
      names.map((n) => `    <a href="${n}/">${n}</a><br>`),
    ),
  );
  for (const n of names) {
    await mkdir(join(root, "simple", n), { recursive: true });
    await writeFile(join(root, "simple", n, "index.html"), page(`Links for ${n}`, projects.get(n) ?? []));
  }
}

/** Serves a static PEP 503 index of `distDir` with nginx. */
export async function startStaticIndex(
  distDir: string,
  opts: { accessLog?: boolean } = {},
): Promise<StaticIndex> {
  const tmp = await tempDir("pyreg-pep503-");
  const root = join(tmp.path, "www");
  await mkdir(root);
  await write(distDir, root);
  const site = await startStaticFolder(root, opts);
  return {
    ...site,
    indexUrl: `${site.url}simple/`,
    refresh: () => write(distDir, root),
    async close() {
      await site.close();
      await tmp.cleanup();
    },
  };
}
