/**
 * The testkit's main entry must load under plain `node`, so nothing it imports, however
 * indirectly, may be vitest: the suites live on `@effect-tls/testkit/vitest`. This walks the
 * static import graph of the sources (relative imports and `@effect-tls/*` workspace imports);
 * CI's consumer check (`scripts/consumer`) also runs the built entry under plain node.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const packagesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

const resolve = (from: string, specifier: string): string | undefined => {
  if (specifier.startsWith(".")) return path.resolve(path.dirname(from), specifier.replace(/\.js$/, ".ts"))
  const workspace = /^@effect-tls\/([^/]+)(?:\/(.+))?$/.exec(specifier)
  if (workspace === null) return undefined
  return path.join(packagesDir, workspace[1], "src", `${workspace[2] ?? "index"}.ts`)
}

/** Every external package the module graph of `entry` imports at run time. */
const externalImports = (entry: string): Set<string> => {
  const seen = new Set<string>()
  const external = new Set<string>()
  const visit = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    const source = fs.readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "")
    for (const match of source.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^"';]*?from\s+"([^"]+)"/gm)) {
      if (match[1] !== undefined) continue // type-only: erased
      const target = resolve(file, match[2])
      if (target === undefined) external.add(match[2])
      else visit(target)
    }
  }
  visit(entry)
  return external
}

describe("testkit entries", () => {
  it("the main entry never imports vitest", () => {
    const imports = [...externalImports(path.join(packagesDir, "testkit", "src", "index.ts"))]
    assert.deepStrictEqual(imports.filter((name) => name.includes("vitest")), [])
    assert.include(imports, "effect/Effect")
  })

  it("the vitest entry holds the suites", () => {
    const imports = [...externalImports(path.join(packagesDir, "testkit", "src", "vitest.ts"))]
    assert.include(imports, "@effect/vitest")
  })
})
