// `pnpm pack:all DIR`: one installable tarball per published package into DIR, packed by pnpm from
// the dist/ directory `pnpm build` assembled (`publishConfig.directory`). Run `pnpm build` first.
//
// Usage: node scripts/pack-all.mjs DIR
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fail, packages, root } from "./workspace.mjs"

const dir = process.argv[2]
if (dir === undefined) fail("usage: pnpm pack:all DIR")
const destination = path.resolve(process.cwd(), dir)
fs.mkdirSync(destination, { recursive: true })

for (const pkg of packages()) {
  const rel = path.relative(root, pkg.dir)
  const distManifest = path.join(pkg.dir, "dist", "package.json")
  if (!fs.existsSync(distManifest)) fail(`${rel}/dist is missing: run pnpm build first`)
  const built = JSON.parse(fs.readFileSync(distManifest, "utf8"))
  if (built.version !== pkg.version) fail(`${rel}/dist is stale (${built.version}, not ${pkg.version}): run pnpm build`)
  const ranges = JSON.stringify([built.dependencies, built.peerDependencies, built.optionalDependencies])
  if (/"(workspace|catalog):/.test(ranges)) fail(`${rel}/dist/package.json still has workspace: or catalog: ranges`)
  const tarball = `${pkg.name.replace(/^@/, "").replace("/", "-")}-${pkg.version}.tgz`
  fs.rmSync(path.join(destination, tarball), { force: true })
  execFileSync("pnpm", ["pack", "--pack-destination", destination], { cwd: pkg.dir, stdio: ["ignore", "ignore", "inherit"] })
  const file = path.join(destination, tarball)
  if (!fs.existsSync(file)) fail(`pnpm pack did not write ${file}`)
  console.log(`${file} (${(fs.statSync(file).size / 1024).toFixed(1)} KiB)`)
}
