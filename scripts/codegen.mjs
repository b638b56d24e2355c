// Writes packages/*/src/index.ts: `export * as Module from "./Module.js"` for every public module,
// with the module's first JSDoc paragraph as its doc. Run with `pnpm codegen`. A module that
// imports vitest stays off the main entry (which must load under plain node): it belongs on the
// package's `vitest` entry (see packages/testkit/src/vitest.ts).
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
for (const pkg of fs.readdirSync(path.join(root, "packages"))) {
  const src = path.join(root, "packages", pkg, "src")
  if (!fs.existsSync(src)) continue
  const modules = fs.readdirSync(src)
    .filter((file) => file.endsWith(".ts") && file !== "index.ts" && /^[A-Z]/.test(file))
    .filter((file) => !/^import[^;"]*from "(@effect\/)?vitest"/m.test(fs.readFileSync(path.join(src, file), "utf8")))
    .sort()
  const blocks = modules.map((file) => {
    const name = file.slice(0, -3)
    const text = fs.readFileSync(path.join(src, file), "utf8")
    const doc = /\/\*\*([\s\S]*?)\*\//.exec(text)
    const first = doc
      ? doc[1].split("\n").map((line) => line.replace(/^\s*\* ?/, "")).join("\n").trim().split("\n\n")[0]
      : name
    return `/**\n${first.split("\n").map((line) => ` * ${line}`.trimEnd()).join("\n")}\n *\n * @since 0.1.0\n */\nexport * as ${name} from "./${name}.js"\n`
  })
  fs.writeFileSync(path.join(src, "index.ts"), `/**\n * @since 0.1.0\n */\n\n${blocks.join("\n")}`)
}
