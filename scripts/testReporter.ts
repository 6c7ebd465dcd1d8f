/**
 * A compact reporter for node's test runner (https://nodejs.org/api/test.html#custom-reporters):
 * one line per test file as it finishes, every failure in full (error, expected/actual, what the
 * file printed), every skipped test listed loudly at the end, then the counts and the suite's time.
 *
 * The runner reports the files one after another (a file's events are held back until the file
 * before it has finished), so an event from another file means the previous one is done.
 */
import { relative } from "node:path";
import { inspect } from "node:util";

interface TestData {
  name?: string;
  nesting?: number;
  file?: string;
  skip?: string | boolean;
  todo?: string | boolean;
  message?: string;
  details?: { duration_ms?: number; type?: string; error?: unknown };
}

interface TestEvent {
  type: string;
  data: TestData;
}

interface FileStats {
  file: string;
  passed: number;
  failed: number;
  skipped: number;
  ms: number;
  output: string[];
  failures: string[];
}

const useColor = process.stdout.isTTY === true && !process.env["NO_COLOR"];
const paint = (code: number, s: string): string => (useColor ? `\u001b[${code}m${s}\u001b[0m` : s);

function shortPath(file: string | undefined): string {
  if (!file) return "(no file)";
  const rel = relative(process.cwd(), file);
  return rel.startsWith("..") ? file : rel;
}

function seconds(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** The error of a failed test, with the assertion's expected/actual and the cause. */
function describeError(error: unknown): string {
  // The runner wraps the test's own error in an ERR_TEST_FAILURE whose cause is the original.
  const inner = (error as { cause?: unknown } | undefined)?.cause ?? error;
  return inspect(inner, { depth: 6, colors: useColor, breakLength: 120 });
}

/** The reason node's runner gives for a test that --test-name-pattern did not select. */
const NOT_SELECTED = "test name does not match pattern";

const indent = (text: string, by = "    "): string =>
  text
    .split("\n")
    .map((l) => by + l)
    .join("\n");

export default async function* compactReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const started = Date.now();
  const files = new Map<string, FileStats>();
  const skippedList: string[] = [];
  let current: FileStats | undefined;
  const totals = { passed: 0, failed: 0, skipped: 0 };
  let suiteMs: number | undefined;
  let notSelected = 0;

  const stats = (file: string): FileStats => {
    let s = files.get(file);
    if (!s) {
      s = { file, passed: 0, failed: 0, skipped: 0, ms: 0, output: [], failures: [] };
      files.set(file, s);
    }
    return s;
  };

  const fileLine = (s: FileStats): string => {
    const mark = s.failed ? paint(31, "FAIL") : paint(32, "ok  ");
    const counts = [
      `${s.passed} passed`,
      s.failed ? `${s.failed} failed` : "",
      s.skipped ? `${s.skipped} skipped` : "",
    ]
      .filter(Boolean)
      .join(", ");
    let out = `${mark} ${shortPath(s.file).padEnd(44)} ${counts.padEnd(30)} ${seconds(s.ms).padStart(7)}\n`;
    for (const f of s.failures) out += f;
    if (s.failed && s.output.length)
      out += `    what the file printed:\n${indent(s.output.join("").trimEnd(), "    | ")}\n`;
    return out;
  };

  for await (const event of source) {
    const d = event.data;
    const key = d.file ?? "(no file)";
    if (["test:pass", "test:fail", "test:stdout", "test:stderr"].includes(event.type)) {
      if (current && current.file !== key) yield fileLine(current);
      current = stats(key);
    }
    switch (event.type) {
      case "test:stdout":
      case "test:stderr":
        current?.output.push(d.message ?? "");
        break;
      case "test:pass":
      case "test:fail": {
        const s = stats(key);
        if (d.nesting === 0) s.ms += d.details?.duration_ms ?? 0;
        // Suites are containers: their tests are counted one by one.
        if (d.details?.type === "suite") {
          // A suite that failed in its hooks (before/after) has no failing test to show it.
          if (event.type === "test:fail" && !s.failures.length) {
            s.failed++;
            totals.failed++;
            s.failures.push(
              `  ${paint(31, "✗")} ${d.name ?? ""} (suite)\n${indent(describeError(d.details.error))}\n`,
            );
          }
          break;
        }
        // A test left out by --test-name-pattern was chosen away, not skipped by a missing tool.
        if (d.skip === NOT_SELECTED) {
          notSelected++;
          break;
        }
        if (d.skip !== undefined && d.skip !== false) {
          s.skipped++;
          totals.skipped++;
          skippedList.push(
            `${shortPath(key)} › ${d.name ?? ""}${typeof d.skip === "string" ? `: ${d.skip}` : ""}`,
          );
        } else if (event.type === "test:pass") {
          s.passed++;
          totals.passed++;
        } else {
          s.failed++;
          totals.failed++;
          s.failures.push(
            `  ${paint(31, "✗")} ${d.name ?? ""}\n${indent(describeError(d.details?.error))}\n`,
          );
        }
        break;
      }
      case "test:diagnostic":
        if (d.nesting === 0 && d.message?.startsWith("duration_ms ")) suiteMs = Number(d.message.slice(12));
        break;
    }
  }
  if (current) yield fileLine(current);
  if (skippedList.length) {
    yield `\n${paint(33, `SKIPPED: ${skippedList.length} test(s) did not run. Nothing below was checked:`)}\n`;
    for (const s of skippedList) yield `  - ${s}\n`;
  }
  if (notSelected) yield `\n(${notSelected} test(s) not selected by the name pattern)\n`;
  yield `\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`;
  yield `suite time: ${seconds(suiteMs ?? Date.now() - started)} (${files.size} files)\n`;
}
