/**
 * The package's module graph: no runtime import cycle (type-only imports vanish at run
 * time), no `node:*`, and nothing from `@effect-tls/core` (x509 stands alone).
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src")

const files = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? files(path.join(dir, entry.name))
      : entry.name.endsWith(".ts")
      ? [path.join(dir, entry.name)]
      : []
  )

/** Runtime imports and re-exports of a module: `import type` / `export type` are left out. */
const imports = (file: string): Array<string> => {
  const text = fs.readFileSync(file, "utf8")
  const out: Array<string> = []
  for (const match of text.matchAll(/^(?:import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)"/gm)) {
    if (match[1] === undefined) out.push(match[2])
  }
  return out
}

describe("module graph", () => {
  it("has no runtime import cycle, no node:* and no @effect-tls/core", () => {
    const graph = new Map<string, Array<string>>()
    for (const file of files(src)) {
      const specifiers = imports(file)
      for (const s of specifiers) {
        assert.isFalse(s.startsWith("node:"), `${file} imports ${s}`)
        assert.isFalse(s.startsWith("@effect-tls/"), `${file} imports ${s}`)
      }
      graph.set(
        file,
        specifiers.filter((s) => s.startsWith(".")).map((s) =>
          path.resolve(path.dirname(file), s.replace(/\.js$/, ".ts"))
        )
      )
    }
    assert.isAbove(graph.size, 10)
    const state = new Map<string, "visiting" | "done">()
    const visit = (file: string, trail: Array<string>) => {
      if (state.get(file) === "done") return
      assert.notStrictEqual(
        state.get(file),
        "visiting",
        `cycle: ${[...trail, file].map((f) => path.relative(src, f)).join(" -> ")}`
      )
      state.set(file, "visiting")
      for (const next of graph.get(file) ?? []) visit(next, [...trail, file])
      state.set(file, "done")
    }
    for (const file of graph.keys()) visit(file, [])
  })
})
