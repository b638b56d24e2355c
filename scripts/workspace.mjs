// The published packages of the workspace (every packages/* whose package.json is not private) and
// what the build, pack and docs scripts need to know about them. Nothing here names a package: a
// new packages/<name> is picked up as soon as it has a package.json and a tsconfig.build.json.
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

/** Fails the script with one line. */
export const fail = (message) => {
  console.error(`error: ${message}`)
  process.exit(1)
}

const readJson = (file) => JSON.parse(fs.readFileSync(file, "utf8"))

/** `{ dir, name, version, manifest }` for each published package, in dependency order. */
export const packages = () => {
  const base = path.join(root, "packages")
  const found = fs.readdirSync(base, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(base, entry.name, "package.json")))
    .map((entry) => {
      const dir = path.join(base, entry.name)
      const manifest = readJson(path.join(dir, "package.json"))
      return { dir, name: manifest.name, version: manifest.version, manifest }
    })
    .filter((pkg) => pkg.manifest.private !== true)
    .sort((a, b) => a.name.localeCompare(b.name))
  // dependency order: a package comes after the workspace packages it depends on
  const byName = new Map(found.map((pkg) => [pkg.name, pkg]))
  const ordered = []
  const visit = (pkg, trail) => {
    if (ordered.includes(pkg)) return
    if (trail.includes(pkg)) fail(`dependency cycle: ${[...trail, pkg].map((p) => p.name).join(" -> ")}`)
    const m = pkg.manifest
    for (const dep of Object.keys({ ...m.dependencies, ...m.peerDependencies })) {
      const other = byName.get(dep)
      if (other !== undefined && other !== pkg) visit(other, [...trail, pkg])
    }
    ordered.push(pkg)
  }
  for (const pkg of found) visit(pkg, [])
  return ordered
}

/** The default catalog of pnpm-workspace.yaml (`catalog:` entries, one `name: range` a line). */
export const catalog = () => {
  const text = fs.readFileSync(path.join(root, "pnpm-workspace.yaml"), "utf8")
  const entries = new Map()
  let inside = false
  for (const line of text.split("\n")) {
    if (/^catalog:\s*$/.test(line)) {
      inside = true
      continue
    }
    if (inside && /^\S/.test(line)) inside = false
    if (!inside) continue
    const match = /^\s+("?)([^":]+)\1:\s*(.+?)\s*$/.exec(line)
    if (match !== null) entries.set(match[2], match[3].replace(/^["']|["']$/g, ""))
  }
  return entries
}
