/**
 * `pyreg serve` answers conditional requests on its simple pages (RFC 9110 §13.1.2 If-None-Match,
 * §15.4.5 304 Not Modified): a client that kept a page gets 304 without a body while the page is
 * the same, and the new page as soon as an upload changed it.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeWheel } from "./fixtures/dists.js";
import { multipartForm, startServe, uploadFields, type ServeHandle } from "./helpers/serve.js";

const JSON_TYPE = "application/vnd.pypi.simple.v1+json";

async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; etag: string | null; body: string }> {
  const r = await fetch(url, { headers });
  return { status: r.status, etag: r.headers.get("etag"), body: await r.text() };
}

describe("pyreg serve: conditional requests on the simple pages", () => {
  let work: string;
  let s: ServeHandle;

  const upload = async (name: string, version: string): Promise<void> => {
    const data = await readFile(await makeWheel(join(work, "src"), { name, version }));
    const form = multipartForm(await uploadFields(name, version, "bdist_wheel", data), {
      filename: `${name}-${version}-py3-none-any.whl`,
      data,
    });
    const r = await fetch(s.url, {
      method: "POST",
      headers: { "Content-Type": form.contentType },
      body: new Uint8Array(form.body),
    });
    assert.equal(r.status, 200, await r.text());
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "pyreg-serve-conditional-"));
    s = await startServe(join(work, "root"));
    await upload("cond", "1.0");
  });

  after(async () => {
    await s.close();
    await rm(work, { recursive: true, force: true });
  });

  for (const [format, accept] of [
    ["HTML", "text/html"],
    ["JSON", JSON_TYPE],
  ] as const) {
    test(`${format}: 304 for the same page, 200 with a new ETag once an upload changed it`, async () => {
      for (const url of [s.indexUrl, `${s.indexUrl}cond/`]) {
        const first = await get(url, { Accept: accept });
        assert.equal(first.status, 200);
        assert.ok(first.etag, `${url} has an ETag`);
        const again = await get(url, { Accept: accept, "If-None-Match": first.etag });
        assert.equal(again.status, 304, url);
        assert.equal(again.body, "");
        assert.equal(again.etag, first.etag);
        // Weak comparison (RFC 9110 §13.1.2), and a list of tags.
        const weak = await get(url, { Accept: accept, "If-None-Match": `"other", W/${first.etag}` });
        assert.equal(weak.status, 304);
        const other = await get(url, { Accept: accept, "If-None-Match": '"other"' });
        assert.equal(other.status, 200);
        assert.equal(other.body, first.body);
      }
      const before = await get(`${s.indexUrl}cond/`, { Accept: accept });
      await upload("cond", format === "HTML" ? "2.0" : "3.0");
      const after = await get(`${s.indexUrl}cond/`, {
        Accept: accept,
        "If-None-Match": before.etag as string,
      });
      assert.equal(after.status, 200, "the changed page is sent");
      assert.notEqual(after.etag, before.etag);
      assert.match(after.body, format === "HTML" ? /cond-2\.0-py3/ : /cond-3\.0-py3/);
    });
  }

  test("the HTML and JSON forms of a page have different ETags", async () => {
    const html = await get(`${s.indexUrl}cond/`, { Accept: "text/html" });
    const json = await get(`${s.indexUrl}cond/`, { Accept: JSON_TYPE });
    assert.notEqual(html.etag, json.etag);
    const cross = await get(`${s.indexUrl}cond/`, {
      Accept: JSON_TYPE,
      "If-None-Match": html.etag as string,
    });
    assert.equal(cross.status, 200);
  });
});
