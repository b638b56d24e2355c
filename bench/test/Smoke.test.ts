/**
 * A smoke run of every benchmark (`BENCH_SMOKE=1`: tiny sizes, one round, no warm-up): each row runs
 * end to end, through both child processes, and prints its figures. Nothing is timed or
 * compared here; speed is measured by `pnpm bench` only.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"

const benchDir = fileURLToPath(new URL("..", import.meta.url))

const runSmoke = Effect.async<string, Error>((resume) => {
  const child = execFile(
    process.execPath,
    ["--import", "tsx", "src/main.ts"],
    { cwd: benchDir, env: { ...process.env, BENCH_SMOKE: "1" }, timeout: 150_000, maxBuffer: 16 * 1024 * 1024 },
    (error, stdout, stderr) =>
      resume(error === null ? Effect.succeed(stdout) : Effect.fail(new Error(`${error.message}\n${stderr}`)))
  )
  return Effect.sync(() => child.kill())
})

interface Figure {
  readonly label: string
  readonly effect: number
  readonly raw?: number
}

const expected = [
  "full P-256 handshakes/s",
  "client CPU per full P-256 handshake",
  "server CPU per full P-256 handshake",
  "full RSA-2048 handshakes/s",
  "client CPU per full RSA-2048 handshake",
  "server CPU per full RSA-2048 handshake",
  "resumed handshakes/s, default cache",
  "resumed share, default cache",
  "resumed handshakes/s, ticket reuse allowed",
  "resumed share, ticket reuse allowed",
  "time to first byte, full, idle server (default path)",
  "time to first byte, full, idle server (bridge)",
  "bulk TCP 64 KiB, default path vs raw native",
  "bulk TCP 64 KiB, bridge (JS Duplex transports) vs raw over a JS Duplex",
  "bulk TCP 16 KiB, default path vs raw native",
  "bulk over the memory pair, 64 KiB",
  "bulk over the memory pair, 16 KiB",
  "heap per idle connection (8 open), client",
  "heap per idle connection (8 open), server",
  "server churn",
  "non-reading peer"
]

describe("bench", () => {
  it.live("every benchmark runs and prints its figures", () =>
    Effect.gen(function*() {
      const stdout = yield* runSmoke
      const json = stdout.split("\n").find((line) => line.startsWith("BENCH_JSON "))
      assert.isDefined(json)
      const results = JSON.parse(json!.slice("BENCH_JSON ".length)).results as ReadonlyArray<Figure>
      for (const label of expected) {
        const figure = results.find((result) => result.label.startsWith(label))
        assert.isDefined(figure, `no figure "${label}"`)
        assert.isTrue(Number.isFinite(figure!.effect), `${label}: ${figure!.effect}`)
        if (figure!.raw !== undefined) assert.isTrue(Number.isFinite(figure!.raw), `${label}: raw ${figure!.raw}`)
        assert.include(stdout, `| ${figure!.label} |`)
      }
    }), { timeout: 180_000 })
})
