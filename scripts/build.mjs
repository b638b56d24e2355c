// `pnpm build`: builds every published package the way Effect's own packages are built.
//
// In the workspace a package's `exports` point at its TypeScript sources (`./src/*.ts`), so tests,
// the demo and `tsc -b` need no build. This script compiles each package's tsconfig.build.json into
// build/esm (ES modules + source maps) and build/dts (declarations + declaration maps), then
// assembles dist/, the directory `publishConfig.directory` names, which is what `pnpm pack` and
// `pnpm publish` ship:
//
//   dist/package.json   the package.json with exports pointing at dist/esm and dist/dts, `workspace:`
//                       and `catalog:` ranges replaced by real ones, no scripts or devDependencies
//   dist/dist/esm       JavaScript and source maps
//   dist/dist/dts       declarations and declaration maps
//   dist/src            the sources the maps point at (no tests)
//   dist/README.md, dist/LICENSE
//
// Usage: node scripts/build.mjs
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { catalog, fail, packages, root } from "./workspace.mjs"

const pkgs = packages()
const versions = new Map(pkgs.map((pkg) => [pkg.name, pkg.version]))
const catalogRanges = catalog()

for (const pkg of pkgs) {
  const rel = path.relative(root, pkg.dir)
  if (!fs.existsSync(path.join(pkg.dir, "tsconfig.build.json"))) {
    fail(`${rel} has no tsconfig.build.json (copy packages/core/tsconfig.build.json and list its references)`)
  }
  if (!fs.existsSync(path.join(pkg.dir, "README.md"))) fail(`${rel} has no README.md`)
  const publish = pkg.manifest.publishConfig ?? {}
  if (publish.directory !== "dist" || publish.linkDirectory !== false) {
    // without linkDirectory: false, pnpm links the workspace to dist/ instead of the sources
    fail(`${rel}/package.json needs "publishConfig": { "access": "public", "directory": "dist", "linkDirectory": false }`)
  }
  // a clean build: files moved or deleted since the last build must not be shipped
  for (const out of ["build/esm", "build/dts", "build/tsconfig.build.tsbuildinfo", "dist"]) {
    fs.rmSync(path.join(pkg.dir, out), { recursive: true, force: true })
  }
}

const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc")
try {
  execFileSync(process.execPath, [tsc, "-b", ...pkgs.map((pkg) => path.join(pkg.dir, "tsconfig.build.json"))], {
    cwd: root,
    stdio: "inherit"
  })
} catch {
  fail("tsc -b of the packages' tsconfig.build.json failed")
}

/** A `workspace:` or `catalog:` range as the real semver range it stands for. */
const resolveRange = (pkg, dep, range) => {
  if (range.startsWith("workspace:")) {
    const version = versions.get(dep)
    if (version === undefined) fail(`${pkg.name}: ${dep} is workspace:, but no published package has that name`)
    const spec = range.slice("workspace:".length)
    if (spec === "^" || spec === "~") return `${spec}${version}`
    if (spec === "*") return version
    return spec
  }
  if (range === "catalog:" || range === "catalog:default") {
    const value = catalogRanges.get(dep)
    if (value === undefined) fail(`${pkg.name}: ${dep} is catalog:, but pnpm-workspace.yaml's catalog has no ${dep}`)
    return value
  }
  if (range.startsWith("catalog:")) fail(`${pkg.name}: named catalogs (${range}) are not supported by this script`)
  return range
}

const resolveAll = (pkg, deps) =>
  deps === undefined
    ? undefined
    : Object.fromEntries(Object.entries(deps).map(([dep, range]) => [dep, resolveRange(pkg, dep, range)]))

/** `./src/X.ts` as `{ types, import, default }` in dist. */
const target = (pkg, source) => {
  const match = /^\.\/src\/(.+)\.ts$/.exec(source)
  if (match === null) fail(`${pkg.name}: export target ${source} is not ./src/<module>.ts`)
  return {
    types: `./dist/dts/${match[1]}.d.ts`,
    import: `./dist/esm/${match[1]}.js`,
    default: `./dist/esm/${match[1]}.js`
  }
}

const listSources = (dir, prefix = "") =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? listSources(path.join(dir, entry.name), `${prefix}${entry.name}/`)
      : entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")
      ? [`${prefix}${entry.name.slice(0, -3)}`]
      : []
  )

const patternMatch = (pattern, value) => {
  const star = pattern.indexOf("*")
  if (star === -1) return pattern === value ? "" : undefined
  const before = pattern.slice(0, star)
  const after = pattern.slice(star + 1)
  return value.startsWith(before) && value.endsWith(after) && value.length >= before.length + after.length
    ? value.slice(before.length, value.length - after.length)
    : undefined
}

/** The source-first `exports` of the workspace, as explicit entries into dist (subpath patterns expanded). */
const distExports = (pkg) => {
  const exportsField = pkg.manifest.exports ?? { ".": "./src/index.ts" }
  const modules = listSources(path.join(pkg.dir, "src"))
  const out = {}
  const blocked = Object.entries(exportsField).filter(([, value]) => value === null).map(([key]) => key)
  for (const [subpath, value] of Object.entries(exportsField)) {
    if (value === null) continue
    if (subpath === "./package.json") {
      out[subpath] = "./package.json"
      continue
    }
    if (typeof value !== "string") fail(`${pkg.name}: export ${subpath} must be a string (./src/<module>.ts)`)
    if (!subpath.includes("*")) {
      out[subpath] = target(pkg, value)
      continue
    }
    for (const module of modules) {
      const star = patternMatch(value, `./src/${module}.ts`)
      if (star === undefined) continue
      const key = subpath.replace("*", star)
      if (key in out || blocked.some((pattern) => patternMatch(pattern, key) !== undefined)) continue
      out[key] = target(pkg, `./src/${module}.ts`)
    }
  }
  return out
}

const copyDir = (from, to) => fs.cpSync(from, to, { recursive: true })

for (const pkg of pkgs) {
  const m = pkg.manifest
  const dist = path.join(pkg.dir, "dist")
  fs.mkdirSync(path.join(dist, "dist"), { recursive: true })
  copyDir(path.join(pkg.dir, "build", "esm"), path.join(dist, "dist", "esm"))
  copyDir(path.join(pkg.dir, "build", "dts"), path.join(dist, "dist", "dts"))
  copyDir(path.join(pkg.dir, "src"), path.join(dist, "src"))
  fs.copyFileSync(path.join(pkg.dir, "README.md"), path.join(dist, "README.md"))
  const license = fs.existsSync(path.join(pkg.dir, "LICENSE")) ? path.join(pkg.dir, "LICENSE") : path.join(root, "LICENSE")
  fs.copyFileSync(license, path.join(dist, "LICENSE"))

  const exportsField = distExports(pkg)
  const main = exportsField["."]
  const publishConfig = { ...m.publishConfig }
  delete publishConfig.directory
  delete publishConfig.linkDirectory
  const bin = m.bin === undefined
    ? undefined
    : typeof m.bin === "string"
    ? target(pkg, m.bin).import
    : Object.fromEntries(Object.entries(m.bin).map(([name, file]) => [name, target(pkg, file).import]))
  const manifest = {
    name: m.name,
    version: m.version,
    description: m.description,
    license: m.license,
    type: m.type,
    ...(m.keywords !== undefined ? { keywords: m.keywords } : {}),
    ...(m.repository !== undefined ? { repository: m.repository } : {}),
    ...(m.homepage !== undefined ? { homepage: m.homepage } : {}),
    ...(m.engines !== undefined ? { engines: m.engines } : {}),
    sideEffects: m.sideEffects ?? [],
    ...(main !== undefined ? { main: main.import, module: main.import, types: main.types } : {}),
    ...(bin !== undefined ? { bin } : {}),
    exports: exportsField,
    ...(m.dependencies !== undefined ? { dependencies: resolveAll(pkg, m.dependencies) } : {}),
    ...(m.peerDependencies !== undefined ? { peerDependencies: resolveAll(pkg, m.peerDependencies) } : {}),
    ...(m.peerDependenciesMeta !== undefined ? { peerDependenciesMeta: m.peerDependenciesMeta } : {}),
    ...(m.optionalDependencies !== undefined
      ? { optionalDependencies: resolveAll(pkg, m.optionalDependencies) }
      : {}),
    ...(Object.keys(publishConfig).length > 0 ? { publishConfig } : {})
  }
  fs.writeFileSync(path.join(dist, "package.json"), JSON.stringify(manifest, null, 2) + "\n")
  // a bin's source runs through tsx in the workspace (`#!/usr/bin/env tsx`); built, it is plain node
  for (const file of bin === undefined ? [] : typeof bin === "string" ? [bin] : Object.values(bin)) {
    const built = path.join(dist, file)
    if (!fs.existsSync(built)) continue
    fs.writeFileSync(built, fs.readFileSync(built, "utf8").replace(/^#![^\n]*\n/, "#!/usr/bin/env node\n"))
    fs.chmodSync(built, 0o755)
  }
  // every target must exist
  for (const entry of [...Object.values(exportsField), ...(bin === undefined ? [] : Object.values(manifest.bin))]) {
    for (const file of typeof entry === "string" ? [entry] : Object.values(entry)) {
      if (!fs.existsSync(path.join(dist, file))) fail(`${pkg.name}: ${file} was not built`)
    }
  }
  console.log(`${pkg.name}@${pkg.version}: ${path.relative(root, dist)} (${Object.keys(exportsField).length} exports)`)
}
