/**
 * Sizes of a run: the full run (`pnpm bench`), a quick one (`BENCH_QUICK=1`) and the smoke
 * run of the test suite (`BENCH_SMOKE=1`: tiny sizes, one round, nothing timed or asserted).
 * `BENCH_ROUNDS` overrides the number of rounds.
 */
export type RunKind = "full" | "quick" | "smoke"

export interface Settings {
  readonly kind: RunKind
  readonly rounds: number
  /** Warm-up measurements of every variant before a row's rounds (its processes are fresh). */
  readonly warmups: number
  /** Warm-up measurements of the handshake and resumption rows (our ends settle after ~3000 handshakes). */
  readonly handshakeWarmups: number
  /** Concurrent client loops of the handshake rows. */
  readonly concurrency: number
  /** Handshakes per handshake measurement. */
  readonly handshakes: number
  /** Samples (sequential connections) per time-to-first-byte measurement. */
  readonly ttfbSamples: number
  /** Bytes per TCP bulk measurement. */
  readonly tcpBytes: number
  /** Bytes per memory-pair bulk measurement. */
  readonly memoryBytes: number
  /** Idle connections held open for the heap row. */
  readonly idleConnections: number
  /** Seconds of churn per round (the full run: 60 s per server over all its rounds). */
  readonly churnSeconds: number
  readonly churnLoops: number
  /** Bytes the non-reading-peer row tries to push. */
  readonly pushBytes: number
  /** No write progress for this long means the writer is suspended. */
  readonly stallMs: number
  /** Rows to run (ids; all by default). */
  readonly only: ReadonlyArray<string>
}

const MiB = 1024 * 1024

export const settings = (argv: ReadonlyArray<string>): Settings => {
  const flag = (name: string) =>
    process.env[name] !== undefined && process.env[name] !== "" && process.env[name] !== "0"
  const kind: RunKind = flag("BENCH_SMOKE") ? "smoke" : flag("BENCH_QUICK") ? "quick" : "full"
  const pick = <A>(full: A, quick: A, smoke: A): A => kind === "full" ? full : kind === "quick" ? quick : smoke
  const asked = Number(process.env.BENCH_ROUNDS)
  const rounds = Number.isInteger(asked) && asked > 0 ? asked : pick(7, 5, 1)
  return {
    kind,
    rounds,
    warmups: pick(2, 1, 0),
    handshakeWarmups: pick(5, 3, 0),
    concurrency: pick(32, 32, 4),
    handshakes: pick(640, 192, 8),
    ttfbSamples: pick(40, 15, 2),
    tcpBytes: pick(256, 64, 1) * MiB,
    memoryBytes: pick(64, 16, 1) * MiB,
    idleConnections: pick(1000, 300, 8),
    churnSeconds: pick(60 / rounds, 3, 0.5),
    churnLoops: pick(32, 32, 4),
    pushBytes: pick(1024, 1024, 64) * MiB,
    stallMs: pick(1000, 1000, 300),
    only: argv.filter((arg) => !arg.startsWith("-"))
  }
}
