/**
 * Shared pieces of the benchmarks: settings (full or `BENCH_QUICK=1`), the test PKI, the
 * effect-tls runtime and options, raw node:tls contexts, interleaved rounds and the report.
 *
 * Every measurement is a `Variant` of a `Group`; the first variant of a group is its
 * baseline (raw node:tls). A round runs every variant of every group once, in an order
 * that alternates from round to round; we report the median of each variant and the
 * median of the per-round ratios variant / baseline.
 */
import type { TlsBackend } from "@effect-tls/core/TlsBackend"
import type { ClientOptions } from "@effect-tls/core/TlsClient"
import type { ServerOptions } from "@effect-tls/core/TlsServer"
import * as NodeTlsBackend from "@effect-tls/node/NodeTlsBackend"
import * as TestPki from "@effect-tls/testkit/TestPki"
import type * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as tls from "node:tls"

export const KiB = 1024
export const MiB = 1024 * 1024

/** The one TLS 1.3 suite every side is forced to. */
export const CIPHER = "TLS_AES_128_GCM_SHA256"

export interface Settings {
  readonly quick: boolean
  readonly rounds: number
  /** Bytes per TCP throughput measurement. */
  readonly tcpBytes: number
  /** Bytes per in-memory throughput measurement. */
  readonly memoryBytes: number
  /** Sequential handshakes per measurement. */
  readonly handshakes: number
  readonly warmupBytes: number
  readonly warmupHandshakes: number
  /** Which suites to run (all by default; `tsx src/main.ts tcp memory handshakes`). */
  readonly suites: ReadonlyArray<string>
}

export const settings = (argv: ReadonlyArray<string>): Settings => {
  const quick = process.env.BENCH_QUICK !== undefined && process.env.BENCH_QUICK !== "0"
  const number = (name: string, fallback: number) => {
    const value = process.env[name]
    return value !== undefined && value !== "" && Number.isFinite(Number(value)) ? Number(value) : fallback
  }
  const suites = argv.filter((arg) => !arg.startsWith("-"))
  return {
    quick,
    rounds: number("BENCH_ROUNDS", quick ? 3 : 5),
    tcpBytes: number("BENCH_MIB", quick ? 8 : 64) * MiB,
    memoryBytes: number("BENCH_MEMORY_MIB", quick ? 8 : 32) * MiB,
    handshakes: number("BENCH_HANDSHAKES", quick ? 40 : 100),
    warmupBytes: (quick ? 4 : 16) * MiB,
    warmupHandshakes: quick ? 10 : 20,
    suites: suites.length > 0 ? suites : ["tcp", "handshakes", "memory"]
  }
}

/** Everything a benchmark needs, built once. */
export interface Context {
  readonly settings: Settings
  readonly runtime: ManagedRuntime.ManagedRuntime<TlsBackend, never>
  readonly fixture: TestPki.Fixture
  readonly clientOptions: ClientOptions
  readonly serverOptions: ServerOptions
  /** Raw node:tls client context: the test CA, the forced suite. */
  readonly rawClientContext: tls.SecureContext
  /** Raw node:tls server context: the server chain and key, the forced suite. */
  readonly rawServerContext: tls.SecureContext
  /** Options for `tls.createServer` (same certificate, same suite). */
  readonly rawServerOptions: tls.TlsOptions
  /** Options for `tls.connect` with `ca` (a new SecureContext per connection, as most users write it). */
  readonly rawClientCaOptions: tls.ConnectionOptions
}

export const makeContext = async (settings: Settings): Promise<Context> => {
  const runtime = ManagedRuntime.make(NodeTlsBackend.layer)
  const fixture = await runtime.runPromise(TestPki.makeFixture())
  // the full verifier (TlsDatabase.verifyChain of the test PKI, then the default `strict`
  // policy) is part of what users pay on every handshake; `checkVerifier` proves it runs
  const database = fixture.pki.database
  const common = { ciphers: CIPHER, minVersion: "TLSv1.3", maxVersion: "TLSv1.3" } as const
  return {
    settings,
    runtime,
    fixture,
    clientOptions: { ...common, serverIdentity: "localhost", database },
    serverOptions: { ...common, certificate: fixture.server.certifiedKey },
    rawClientContext: tls.createSecureContext({ ca: fixture.caPem, ...common }),
    rawServerContext: tls.createSecureContext({ cert: fixture.serverPem, key: fixture.keyPem, ...common }),
    rawServerOptions: { cert: fixture.serverPem, key: fixture.keyPem, ...common },
    rawClientCaOptions: { ca: fixture.caPem, ...common }
  }
}

/**
 * The same effect-tls options with `requireCloseNotify: false` on both sides: the engine
 * then hands NodeTransport's own socket to node:tls (its native path, no JS bridge).
 */
export const withNativePath = (context: Context): Context => ({
  ...context,
  clientOptions: { ...context.clientOptions, requireCloseNotify: false },
  serverOptions: { ...context.serverOptions, requireCloseNotify: false }
})

export const run = <A, E>(context: Context, effect: Effect.Effect<A, E, TlsBackend>): Promise<A> =>
  context.runtime.runPromise(effect)

/** Checks what a raw node:tls socket negotiated. */
export const checkRawSocket = (socket: tls.TLSSocket): void => {
  const cipher = socket.getCipher()
  if (cipher.standardName !== CIPHER || socket.getProtocol() !== "TLSv1.3") {
    throw new Error(`raw node:tls negotiated ${socket.getProtocol()} ${cipher.standardName}`)
  }
}

export const checkSuite = (protocol: string, cipher: string): void => {
  if (cipher !== CIPHER || protocol !== "TLSv1.3") throw new Error(`effect-tls negotiated ${protocol} ${cipher}`)
}

export const now = (): number => performance.now()

/** Resolves on the first of `event` (or rejects on "error"). */
export const once = (emitter: NodeJS.EventEmitter, event: string): Promise<Array<unknown>> =>
  new Promise((resolve, reject) => {
    const onEvent = (...args: Array<unknown>) => {
      emitter.off("error", onError)
      resolve(args)
    }
    const onError = (error: unknown) => {
      emitter.off(event, onEvent)
      reject(error)
    }
    emitter.once(event, onEvent)
    emitter.once("error", onError)
  })

/** A payload chunk (reused by every write: TLS encrypts it before the write completes). */
export const payload = (size: number): Uint8Array => {
  const bytes = new Uint8Array(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff
  return bytes
}

// ---------------------------------------------------------------------------------------------
// groups, rounds, report

export type Unit = "MiB/s" | "handshakes/s"

export interface Variant {
  readonly name: string
  /** One measurement: returns the measured value in the group's unit. */
  readonly measure: (warmup: boolean) => Promise<number>
}

export interface Group {
  readonly name: string
  readonly unit: Unit
  /** The first variant is the baseline (raw node:tls). */
  readonly variants: ReadonlyArray<Variant>
}

export interface Result {
  readonly group: string
  readonly variant: string
  readonly unit: Unit
  readonly samples: ReadonlyArray<number>
  readonly median: number
  /** Per-round value / baseline value, and their median (1 for the baseline). */
  readonly ratios: ReadonlyArray<number>
  readonly medianRatio: number
}

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

const log = (line: string) => process.stderr.write(`${line}\n`)

/** Fails a measurement that hangs (a bug, not a slow run). */
const bounded = <A>(promise: Promise<A>, what: string, ms = 120_000): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms / 1000} s`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Warm-up (every variant once), then interleaved rounds (order alternating every round). */
export const runGroups = async (groups: ReadonlyArray<Group>, rounds: number): Promise<Array<Result>> => {
  for (const group of groups) {
    for (const variant of group.variants) {
      log(`  warm-up ${group.name} / ${variant.name}`)
      await bounded(variant.measure(true), `${group.name} / ${variant.name}`)
    }
  }
  const samples = groups.map((group) => group.variants.map(() => [] as Array<number>))
  for (let round = 0; round < rounds; round++) {
    const started = now()
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g]
      const order = group.variants.map((_, i) => i)
      if (round % 2 === 1) order.reverse()
      for (const v of order) {
        const what = `${group.name} / ${group.variants[v].name}`
        samples[g][v].push(await bounded(group.variants[v].measure(false), what))
      }
    }
    log(`  round ${round + 1}/${rounds} done in ${((now() - started) / 1000).toFixed(1)} s`)
  }
  return groups.flatMap((group, g) =>
    group.variants.map((variant, v): Result => {
      const ratios = samples[g][v].map((value, round) => value / samples[g][0][round])
      return {
        group: group.name,
        variant: variant.name,
        unit: group.unit,
        samples: samples[g][v],
        median: median(samples[g][v]),
        ratios,
        medianRatio: median(ratios)
      }
    })
  )
}

const pad = (text: string, width: number, right = false) => right ? text.padStart(width) : text.padEnd(width)

export const formatTable = (results: ReadonlyArray<Result>): string => {
  const rows = results.map((result) => [
    result.group,
    result.variant,
    result.median.toFixed(result.unit === "MiB/s" ? 1 : 0) + " " + result.unit,
    `${Math.min(...result.samples).toFixed(result.unit === "MiB/s" ? 1 : 0)}–${
      Math.max(...result.samples).toFixed(result.unit === "MiB/s" ? 1 : 0)
    }`,
    result.ratios.length > 0 && result.ratios.every((ratio) => ratio === 1) ?
      "baseline" :
      `${(result.medianRatio * 100).toFixed(0)} %`
  ])
  const header = ["benchmark", "variant", "median", "min–max", "vs raw"]
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)))
  const line = (row: ReadonlyArray<string>) =>
    row.map((cell, column) => pad(cell, widths[column], column === 2 || column === 3 || column === 4)).join("  ")
  const out = [line(header), widths.map((width) => "-".repeat(width)).join("  ")]
  let previous = ""
  for (const row of rows) {
    if (previous !== "" && row[0] !== previous) out.push("")
    out.push(line(row[0] === previous ? ["", ...row.slice(1)] : row))
    previous = row[0]
  }
  return out.join("\n")
}
