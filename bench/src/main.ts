/**
 * `pnpm bench`: every benchmark, raw node:tls against effect-tls in the same run.
 *
 * Usage: `tsx src/main.ts [tcp] [handshakes] [memory]` (all by default). `BENCH_QUICK=1`
 * for a quick run; `BENCH_ROUNDS`, `BENCH_MIB`, `BENCH_MEMORY_MIB`, `BENCH_HANDSHAKES`
 * override the sizes. Progress goes to stderr; the table and one JSON line (prefixed
 * `BENCH_JSON `) go to stdout.
 */
import * as os from "node:os"
import type { Group } from "./common.js"
import { CIPHER, formatTable, makeContext, MiB, now, runGroups, settings } from "./common.js"
import * as handshakes from "./handshakes.js"
import * as memory from "./memory.js"
import * as throughput from "./throughput.js"

const main = async () => {
  const started = now()
  const config = settings(process.argv.slice(2))
  const context = await makeContext(config)
  try {
    const groups: Array<Group> = [
      ...(config.suites.includes("tcp") ? throughput.groups(context) : []),
      ...(config.suites.includes("handshakes") ? handshakes.groups(context) : []),
      ...(config.suites.includes("memory") ? memory.groups(context) : [])
    ]
    const describe = `${config.quick ? "quick" : "full"} run: ${config.rounds} rounds, ` +
      `tcp ${config.tcpBytes / MiB} MiB, memory ${config.memoryBytes / MiB} MiB, ${config.handshakes} handshakes; ` +
      `TLSv1.3 ${CIPHER}; effect-tls verifies with the test PKI's TlsDatabase`
    process.stderr.write(`${describe}\n`)
    await handshakes.checkVerifier(context)
    const results = await runGroups(groups, config.rounds)
    const seconds = (now() - started) / 1000
    console.log(`\neffect-tls vs raw node:tls — ${describe}`)
    console.log(
      `node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), ${seconds.toFixed(0)} s`
    )
    console.log(`medians of ${config.rounds} interleaved rounds; "vs raw" is the median of per-round ratios\n`)
    console.log(formatTable(results))
    console.log(
      `BENCH_JSON ${
        JSON.stringify({
          quick: config.quick,
          node: process.version,
          cipher: CIPHER,
          rounds: config.rounds,
          tcpBytes: config.tcpBytes,
          memoryBytes: config.memoryBytes,
          handshakes: config.handshakes,
          seconds: Math.round(seconds),
          results: results.map((result) => ({
            group: result.group,
            variant: result.variant,
            unit: result.unit,
            median: Number(result.median.toFixed(2)),
            ratio: Number(result.medianRatio.toFixed(4)),
            samples: result.samples.map((sample) => Number(sample.toFixed(2)))
          }))
        })
      }`
    )
  } finally {
    await context.runtime.dispose()
  }
}

main().catch((error) => {
  console.error("bench failed:", error)
  // a failed measurement may leave a connection behind: do not hang
  process.exit(1)
})
