import type { Command } from "commander";
import { buildSettings, DEPENDENCY_CONFUSION, type RegistrySettings } from "../core/cutover/settings.js";
import { PyregError } from "../core/errors.js";
import { parseSpec } from "../registries/spec.js";
import { JSON_VERSION } from "./common.js";

const TOOLS = ["pip", "uv", "poetry", "pdm", "pipenv", "requirements.txt", "twine"];

function render(s: RegistrySettings): string {
  const out: string[] = [];
  const c = (line = ""): void => void out.push(line ? `# ${line}` : "#");
  c(`pyreg print-settings: a ${s.kind} registry`);
  c(`  index (pip, uv, poetry, pdm, pipenv read it): ${s.indexUrl}`);
  c(`  upload (twine, poetry publish, uv publish):    ${s.uploadUrl ?? "(unknown)"}`);
  c();
  c(`Credentials (username: ${s.credentials.username}):`);
  for (const step of s.credentials.steps) c(`  - ${step}`);
  for (const d of s.credentials.docs) c(`  see ${d}`);
  for (const w of s.warnings) {
    c();
    c(`WARNING: ${w}`);
  }
  for (const t of s.tools) {
    out.push("", `### ${t.tool}    (${t.docs.join(" , ")})`);
    for (const sn of t.snippets) {
      out.push(`# --- ${sn.target}${sn.when ? `   (${sn.when})` : ""}`);
      out.push(sn.text.replace(/\n$/, ""));
    }
    if (t.pinning) c(`One index per package: ${t.pinning}`);
    for (const n of t.notes) c(`Note: ${n}`);
  }
  return out.join("\n") + "\n";
}

export function registerPrintSettings(program: Command): void {
  program
    .command("print-settings")
    .argument(
      "<destination>",
      "the new registry, as given to migrate --to (upload URL, index URL or KIND+https://)",
    )
    .summary(
      "print ready-to-paste pip, uv, poetry, pdm, pipenv, twine and requirements.txt settings for a registry",
    )
    .description(
      "Print the configuration each tool needs to install from (and publish to) a registry, with the " +
        "registry kind's way of getting credentials (Google Artifact Registry, CodeArtifact, GitLab, " +
        "Basic auth). Never prints a secret: credentials appear as <USERNAME>/<PASSWORD> placeholders or " +
        "environment variables. Reads nothing over the network.",
    )
    .option("--name <name>", "the source name in uv, poetry, pdm, pipenv and .pypirc", "private")
    .option(
      "--with-pypi",
      "keep pypi.org as a second index (prints the dependency-confusion warning and how to pin)",
    )
    .option("--username <name>", "the username to write (default: the registry kind's, or <USERNAME>)")
    .option("--index-url <url>", "the index URL, when it cannot be derived from DESTINATION")
    .option("--gitlab-api <url>", "GitLab: the API root (https://host/prefix/api/v4)")
    .option("--tool <names>", `only these tools, comma-separated (${TOOLS.join(", ")})`)
    .option("--json", "print the settings as JSON (docs/json-schema.json)")
    .action(
      (
        destination: string,
        opts: {
          name: string;
          withPypi?: boolean;
          username?: string;
          indexUrl?: string;
          gitlabApi?: string;
          tool?: string;
          json?: boolean;
        },
      ) => {
        if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(opts.name))
          throw new PyregError("USAGE", `--name takes letters, digits, - and _, not "${opts.name}"`);
        const settings = buildSettings(parseSpec(destination), {
          name: opts.name,
          withPypi: opts.withPypi === true,
          username: opts.username,
          indexUrl: opts.indexUrl,
          gitlabApi: opts.gitlabApi,
          env: process.env,
        });
        if (opts.tool) {
          const want = opts.tool.split(",").map((t) => t.trim());
          const unknown = want.filter((t) => !TOOLS.includes(t));
          if (unknown.length)
            throw new PyregError("USAGE", `unknown --tool ${unknown.join(", ")}`, {
              hint: `known: ${TOOLS.join(", ")}`,
            });
          settings.tools = settings.tools.filter((t) => want.includes(t.tool));
        }
        const out = opts.json
          ? JSON.stringify({ version: JSON_VERSION, command: "print-settings", ...settings }, null, 2) + "\n"
          : render(settings);
        // Written as is (redaction would also hide the ${VAR} placeholders in URLs), so check here
        // that no credential of DESTINATION made it into the text.
        const spec = parseSpec(destination);
        // The password, or the username when it comes alone (https://TOKEN@host/).
        const secret = spec.url?.password || spec.url?.username;
        if (secret && out.includes(decodeURIComponent(secret)))
          throw new PyregError(
            "STATE",
            "refusing to print settings that contain a credential of DESTINATION",
          );
        process.stdout.write(out);
        if (opts.withPypi) process.stderr.write(`warning: ${DEPENDENCY_CONFUSION}\n`);
      },
    );
}
