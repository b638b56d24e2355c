/**
 * `pnpm bench`: every row of issue 8's table, raw node:tls against effect-tls in the same
 * run, in interleaved rounds; the client and the server end each in a child process.
 *
 * `BENCH_QUICK=1` for a quick run, `BENCH_SMOKE=1` for the test suite's smoke run (tiny,
 * one round; it does not write RESULTS.md). `tsx src/main.ts ttfb heap` runs only the rows
 * whose id starts with one of the words. Progress goes to stderr; the table and one
 * `BENCH_JSON` line to stdout.
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { spawnEnds } from "./children.js"
import { makePems } from "./material.js"
import { document, table } from "./report.js"
import { type Env, runRows } from "./rounds.js"
import { all } from "./rows/index.js"
import { settings as readSettings } from "./settings.js"

const main = async () => {
  const started = performance.now()
  const settings = readSettings(process.argv.slice(2))
  const pems = await Effect.runPromise(makePems)
  const children = await spawnEnds(pems)
  try {
    const env: Env = { settings, ends: children.ends }
    const rows = all(env).filter((row) =>
      settings.only.length === 0 || settings.only.some((word) => row.id.startsWith(word))
    )
    process.stderr.write(`${settings.kind} run: ${rows.length} rows, ${settings.rounds} rounds\n`)
    const results = await runRows(rows, settings.rounds, settings.kind !== "smoke")
    const seconds = (performance.now() - started) / 1000
    console.log(table(results))
    console.log(`BENCH_JSON ${JSON.stringify({ kind: settings.kind, rounds: settings.rounds, results })}`)
    if (settings.kind !== "smoke" && settings.only.length === 0) {
      const path = fileURLToPath(new URL("../RESULTS.md", import.meta.url))
      fs.writeFileSync(path, document(results, settings, seconds, new Date()))
      process.stderr.write(`wrote ${path}\n`)
    }
  } finally {
    children.kill()
  }
}

main().catch((error) => {
  console.error("bench failed:", error)
  process.exit(1)
})
