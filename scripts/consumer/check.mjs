// The consumer check of .ci/run: installs the tarballs `pnpm pack:all DIR` wrote into a throwaway
// plain npm project outside the workspace, runs app.mjs under plain `node` and type-checks app.ts
// with lib ["ES2022"] (no DOM), @types/node and skipLibCheck off.
//
// Usage: node scripts/consumer/check.mjs DIR
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { catalog, fail } from "../workspace.mjs"

const here = path.dirname(fileURLToPath(import.meta.url))
const tarballDir = process.argv[2]
if (tarballDir === undefined) fail("usage: node scripts/consumer/check.mjs DIR (the tarballs of pnpm pack:all)")
const tarballs = fs.readdirSync(tarballDir).filter((file) => file.endsWith(".tgz"))
  .map((file) => path.resolve(tarballDir, file))
if (tarballs.length === 0) fail(`no .tgz in ${tarballDir}`)

const versions = catalog()
const pin = (name) => {
  const range = versions.get(name)
  if (range === undefined) fail(`pnpm-workspace.yaml's catalog has no ${name}`)
  return `${name}@${range}`
}

const project = fs.mkdtempSync(path.join(os.tmpdir(), "effect-tls-consumer-"))
const run = (command, args) => {
  console.log(`$ ${command} ${args.join(" ")}`)
  execFileSync(command, args, { cwd: project, stdio: "inherit" })
}
try {
  fs.writeFileSync(
    path.join(project, "package.json"),
    JSON.stringify({ name: "effect-tls-consumer", private: true, type: "module" }, null, 2) + "\n"
  )
  for (const file of ["app.mjs", "app.ts", "tsconfig.json"]) fs.copyFileSync(path.join(here, file), path.join(project, file))
  const quiet = ["--no-audit", "--no-fund", "--loglevel=error"]
  // what a user runs
  run("npm", ["install", ...quiet, ...tarballs, pin("effect"), pin("@effect/platform")])
  run("node", ["app.mjs"])
  // the TypeScript twin
  run("npm", ["install", ...quiet, "--save-dev", pin("typescript"), pin("@types/node")])
  run(path.join(project, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"])
  console.log(`consumer check passed in ${project}`)
  fs.rmSync(project, { recursive: true, force: true })
} catch (cause) {
  fail(`consumer check failed (the project is left in ${project}): ${cause.message.split("\n")[0]}`)
}
