// `pnpm docgen` (not `pnpm docs`, a pnpm command of its own): the API reference of every published
// package, generated from the JSDoc by @effect/docgen (as Effect does) into packages/<name>/docs
// (not committed), then every `@example`
// of that reference type-checked.
//
// docgen fails on an export without `@since`; the example check fails on an example that does not
// compile. Examples are type-checked, never run (many open sockets or define vitest suites): each
// is its own ES module, compiled with strict, lib ["ES2022"] + @types/node (no DOM), against the
// workspace's sources (`@effect-tls/<name>` and its subpaths resolve to packages/<name>/src).
// A module author needs nothing but JSDoc: `@since` on every export, and examples that import what
// they use and declare what they assume (`declare const certificate: CertifiedKey.CertifiedKey`).
//
// Usage: node scripts/docs.mjs [package directory name ...]   (default: all)
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fail, packages, root } from "./workspace.mjs"

const only = process.argv.slice(2)
const all = packages()
const selected = only.length === 0 ? all : all.filter((pkg) => only.includes(path.basename(pkg.dir)))
if (selected.length === 0) fail(`no published package named ${only.join(", ")}`)

const docgen = path.join(root, "node_modules", "@effect", "docgen", "bin.cjs")
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc")
const failures = []

const listFiles = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(path.join(dir, entry.name)) : [path.join(dir, entry.name)]
  )

/** `[name, code]` for each match of `pattern` (its first group) in `text`. */
function blocks(text, pattern, prefix) {
  return [...text.matchAll(pattern)].map((match, index) => [`${prefix}-${index}.ts`, match[1]])
}

/**
 * Type-checks `examples` in `dir`/build/docs-examples: strict, lib ES2022 + @types/node, the
 * workspace's packages resolved to their sources, everything else from `dir`'s node_modules.
 */
function typeCheck(label, dir, examples) {
  const rel = path.relative(root, dir) || "."
  if (examples.length === 0) {
    console.log(`${label}: no examples`)
    return
  }
  const examplesDir = path.join(dir, "build", "docs-examples")
  fs.rmSync(examplesDir, { recursive: true, force: true })
  fs.mkdirSync(examplesDir, { recursive: true })
  for (const [name, code] of examples) fs.writeFileSync(path.join(examplesDir, name), `${code}\nexport {}\n`)
  const pathsMap = {}
  for (const other of all) {
    const src = path.relative(examplesDir, path.join(other.dir, "src"))
    pathsMap[other.name] = [`${src}/index.ts`]
    pathsMap[`${other.name}/*`] = [`${src}/*.ts`]
  }
  const compilerOptions = {
    strict: true,
    noEmit: true,
    target: "ES2022",
    lib: ["ES2022"],
    module: "NodeNext",
    moduleResolution: "NodeNext",
    types: ["node"],
    skipLibCheck: true,
    allowImportingTsExtensions: true,
    paths: pathsMap
  }
  fs.writeFileSync(
    path.join(examplesDir, "tsconfig.json"),
    JSON.stringify({ compilerOptions, include: ["*.ts"] }, null, 2) + "\n"
  )
  console.log(`${label}: type-checking ${examples.length} examples`)
  const checked = spawnSync(process.execPath, [tsc, "-p", path.join(examplesDir, "tsconfig.json")], {
    cwd: examplesDir,
    encoding: "utf8"
  })
  if (checked.status !== 0) {
    // name the module each failing example comes from
    process.stderr.write(
      checked.stdout.replace(/^([\w.-]+)-(\d+)\.ts\((\d+),(\d+)\)/gm, `${rel}: example $1 #$2, line $3:$4`)
    )
    failures.push(`${rel}: examples do not type-check`)
  }
}

for (const pkg of selected) {
  const rel = path.relative(root, pkg.dir)
  const outDir = path.join(pkg.dir, "docs")
  fs.rmSync(outDir, { recursive: true, force: true })

  // docgen reads ./package.json (and wants a `homepage` in it) and ./docgen.json from its working
  // directory: give it a staging directory with the sources linked in, so that packages need
  // neither a homepage nor a docgen.json (one in the package is merged in when present).
  const staging = path.join(pkg.dir, "build", "docgen")
  fs.rmSync(staging, { recursive: true, force: true })
  fs.mkdirSync(staging, { recursive: true })
  fs.symlinkSync(path.join("..", "..", "src"), path.join(staging, "src"))
  fs.writeFileSync(
    path.join(staging, "package.json"),
    JSON.stringify({ name: pkg.name, homepage: pkg.manifest.homepage ?? "" }) + "\n"
  )
  const own = path.join(pkg.dir, "docgen.json")
  const ownConfig = fs.existsSync(own) ? JSON.parse(fs.readFileSync(own, "utf8")) : {}
  const config = {
    ...ownConfig,
    exclude: ["src/internal/**/*.ts", ...(ownConfig.exclude ?? [])],
    outDir: path.relative(staging, outDir),
    enableSearch: false
  }
  delete config.$schema
  fs.writeFileSync(path.join(staging, "docgen.json"), JSON.stringify(config, null, 2) + "\n")

  console.log(`${pkg.name}: docgen`)
  // docgen 0.5.2 hands process.argv.slice(2) to @effect/cli, which drops two more arguments: the
  // first two words below are placeholders so that --no-run-examples arrives (the examples are
  // type-checked below instead of being run).
  const generated = spawnSync(process.execPath, [docgen, "docgen", "docgen", "--no-run-examples"], {
    cwd: staging,
    encoding: "utf8"
  })
  if (generated.status !== 0 || !/Docs generation succeeded/.test(generated.stdout + generated.stderr)) {
    process.stderr.write(generated.stdout + generated.stderr)
    failures.push(`${rel}: docgen failed`)
    continue
  }

  // every example of the reference and every ts block of the README, one ES module each
  const examples = []
  for (const file of listFiles(path.join(outDir, "modules")).filter((f) => f.endsWith(".md"))) {
    const module = path.basename(file).replace(/\.ts\.md$|\.md$/, "")
    examples.push(...blocks(fs.readFileSync(file, "utf8"), /\*\*Example\*\*\s*\n\s*```ts\n([\s\S]*?)\n```/g, module))
  }
  examples.push(...blocks(fs.readFileSync(path.join(pkg.dir, "README.md"), "utf8"), /```ts\n([\s\S]*?)\n```/g, "README"))
  typeCheck(pkg.name, pkg.dir, examples)
}

if (only.length === 0 && fs.existsSync(path.join(root, "README.md"))) {
  const examples = blocks(fs.readFileSync(path.join(root, "README.md"), "utf8"), /```ts\n([\s\S]*?)\n```/g, "README")
  typeCheck("README.md", root, examples)
}

if (failures.length > 0) fail(failures.join("; "))
console.log(`docs: ${selected.map((pkg) => path.relative(root, path.join(pkg.dir, "docs"))).join(", ")}`)
