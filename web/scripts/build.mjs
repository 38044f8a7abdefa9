// Bundles the page into dist/: index.html, public/ files, and content-hashed JS and CSS under
// dist/assets/. Run after `buf generate` (see `npm run build`).

import { build } from "esbuild";
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = join(root, "dist");

await rm(dist, { recursive: true, force: true });
await mkdir(join(dist, "assets"), { recursive: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: ["src/main.ts", "src/styles.css"],
  outdir: "dist/assets",
  entryNames: "[name]-[hash]",
  bundle: true,
  format: "esm",
  target: ["es2022"],
  minify: true,
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
});

// Point index.html at the hashed names, so a new build is never mixed with a cached old one.
const hashed = {};
for (const [output, info] of Object.entries(result.metafile.outputs)) {
  if (info.entryPoint) {
    hashed[basename(info.entryPoint).replace(/\.ts$/, ".js")] = `/assets/${basename(output)}`;
  }
}
let html = await readFile(join(root, "index.html"), "utf8");
for (const [name, path] of Object.entries(hashed)) {
  const reference = `/assets/${name}`;
  if (!html.includes(reference)) {
    throw new Error(`index.html does not reference ${reference}`);
  }
  html = html.replace(reference, path);
}
await writeFile(join(dist, "index.html"), html);
await cp(join(root, "public"), dist, { recursive: true });

for (const [output, info] of Object.entries(result.metafile.outputs)) {
  console.log(`${output}  ${(info.bytes / 1024).toFixed(1)} KiB`);
}
