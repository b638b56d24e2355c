/**
 * `pnpm bench`: every row of issue 8's table, raw node:tls against effect-tls in the same
 * run, in interleaved rounds; the client and the server end each in a child process.
 *
 * Each row runs in its own fresh processes (a client and a server for each implementation),
 * warmed up, then measured in interleaved rounds: no row's code or heap is left in another's
 * (handshake rows measured after the bulk rows in shared processes came out 0.1-0.2 × lower).
 *
 * `BENCH_QUICK=1` for a quick run, `BENCH_SMOKE=1` for the test suite's smoke run (tiny,
 * one round; it does not write RESULTS.md). `tsx src/main.ts ttfb heap` runs only the rows
 * whose id starts with one of the words. Progress goes to stderr; the table and one
 * `BENCH_JSON` line to stdout.
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { type Ends, spawnEnds } from "./children.js"
import { makePems } from "./material.js"
import type { Impl } from "./protocol.js"
import { document, table } from "./report.js"
import { type Env, type FigureResult, runRow } from "./rounds.js"
import { all } from "./rows/index.js"
import { settings as readSettings } from "./settings.js"

const main = async () => {
  const started = performance.now()
  const settings = readSettings(process.argv.slice(2))
  const pems = await Effect.runPromise(makePems)
  // (the rows read the current row's processes through `env.ends`)
  let current: ((impl: Impl) => Ends) | undefined
  const env: Env = {
    settings,
    ends: (impl) => {
      if (current === undefined) throw new Error("no processes")
      return current(impl)
    }
  }
  const rows = all(env).filter((row) =>
    settings.only.length === 0 || settings.only.some((word) => row.id.startsWith(word))
  )
  process.stderr.write(`${settings.kind} run: ${rows.length} rows, ${settings.rounds} rounds\n`)
  const results: Array<FigureResult> = []
  for (const row of rows) {
    const children = await spawnEnds(pems)
    current = children.ends
    try {
      for (const result of await runRow(row, settings.rounds, settings.warmups)) results.push(result)
    } finally {
      current = undefined
      children.kill()
    }
  }
  const seconds = (performance.now() - started) / 1000
  console.log(table(results))
  console.log(`BENCH_JSON ${JSON.stringify({ kind: settings.kind, rounds: settings.rounds, results })}`)
  if (settings.kind !== "smoke" && settings.only.length === 0) {
    const path = fileURLToPath(new URL("../RESULTS.md", import.meta.url))
    fs.writeFileSync(path, document(results, settings, seconds, new Date()))
    process.stderr.write(`wrote ${path}\n`)
  }
}

main().catch((error) => {
  console.error("bench failed:", error)
  process.exit(1)
})
