// The command-line program as one CommonJS script: dist/src/pyreg.cjs, bundled by esbuild from the
// compiled dist/src/cli/main.js and the pure-JavaScript libraries it imports. Run after tsc (npm
// run build, prepare and scripts/test.sh do). bin/pyreg runs it through src/cli/codeCache.ts.
//
// Why one file: Node.js 20 loads an ES module graph a file at a time (resolve, read, link), and
// the CLI's graph is about 300 ES modules and 100 CommonJS files. On the 2-core test machine
// `pyreg --version` took 0.9 s of CPU, 0.6 s of it importing; the bundle is loaded in a fraction
// of that. Whitespace and syntax are minified (names are kept, so a stack trace still names its
// functions).
//
// Why CommonJS: V8's code cache is open to a script (vm.Script's cachedData), not to an ES module
// on Node.js 20; src/cli/codeCache.ts measures what it saves. The same code as one script also
// started sooner without a cache (0.297 s of CPU for `pyreg --version` against 0.339 s as an ES
// module). `import.meta.url` becomes the script's own file URL, and the two dynamic imports (the
// cloud SDKs) become require() calls, which a vm.Script can make without Node's experimental
// loader for it.
//
// Not bundled: better-sqlite3 (a native addon, loaded from node_modules), and the two cloud SDKs
// pyreg loads only when a GAR or CodeArtifact registry is used. The library entry
// (dist/src/index.js) stays the plain tsc output.
//
// The bundle sits next to dist/src/version.js, at the same depth, so that version.ts's
// `../../package.json` (resolved from the module's own URL) names the same file from both.
import { build } from "esbuild";
import process from "node:process";

await build({
  entryPoints: ["dist/src/cli/main.js"],
  outfile: "dist/src/pyreg.cjs",
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  external: ["better-sqlite3", "@aws-sdk/*", "google-auth-library"],
  supported: { "dynamic-import": false },
  define: { "import.meta.url": "pyregBundleUrl" },
  banner: { js: 'const pyregBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: "eof",
  logLevel: "warning",
}).catch(() => process.exit(1));
