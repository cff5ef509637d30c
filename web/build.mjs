// Bundles web/src into src/llmportal/static: index.html plus content-hashed assets.
import { build } from "esbuild";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "llmportal", "static");
const assets = join(out, "assets");

rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const result = await build({
  entryPoints: [join(here, "src", "main.js"), join(here, "src", "styles.css")],
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "esm",
  target: ["es2020"],
  outdir: assets,
  entryNames: "[name]-[hash]",
  metafile: true,
  logLevel: "warning",
});

const names = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = names.find((n) => n.startsWith("main-") && n.endsWith(".js"));
const css = names.filter((n) => n.endsWith(".css"));
const html = readFileSync(join(here, "src", "index.html"), "utf8")
  .replace("<!--CSS-->", css.map((n) => `<link rel="stylesheet" href="/assets/${n}">`).join("\n    "))
  .replace("<!--JS-->", `<script type="module" src="/assets/${js}"></script>`);
writeFileSync(join(out, "index.html"), html);
console.log(`built ${names.join(", ")} and index.html into ${out}`);
