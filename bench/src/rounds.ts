/**
 * Rows, variants, figures and the interleaved rounds.
 *
 * A `Row` is a set of configurations (`Variant`s) measured together; each measurement
 * returns named metrics. A round measures every variant of every row once (rows in turn,
 * the variants' order reversed every other round), so slow phases of a shared machine hit
 * every configuration alike. A `Figure` reads one metric of a row: the raw node:tls
 * variant's median, the effect-tls variant's median, and the median of the same-round
 * ratios (or differences).
 */
import type { Ends } from "./children.js"
import type { Impl, Metrics } from "./protocol.js"
import type { Settings } from "./settings.js"
import { median } from "./util.js"

export interface Env {
  readonly settings: Settings
  /** The client and server processes of one implementation (each has its own pair). */
  readonly ends: (impl: Impl) => Ends
}

export interface Variant {
  readonly name: string
  readonly measure: (warmup: boolean) => Promise<Metrics>
}

export interface Medians {
  readonly of: (variant: string, metric: string) => number
  /** Every round's value. */
  readonly samples: (variant: string, metric: string) => ReadonlyArray<number>
}

export interface Figure {
  readonly label: string
  readonly metric: string
  readonly unit: string
  /** The raw node:tls variant, if this figure has one. */
  readonly raw?: string | undefined
  readonly effect: string
  readonly compare: "ratio" | "diff" | "none"
  readonly target: string
  /** Whether the target is met; absent for figures that only inform. */
  readonly met?: ((compared: number, medians: Medians) => boolean) | undefined
  readonly note?: ((medians: Medians) => string) | undefined
}

export interface Row {
  readonly id: string
  readonly variants: ReadonlyArray<Variant>
  readonly figures: ReadonlyArray<Figure>
  /**
   * Measure every variant once, a whole measurement, before the rounds and discard it (default
   * true; never in a smoke run): both implementations' code is compiled by V8 before anything
   * counts (a quarter of one left the effect-tls children still optimizing, about 370 TurboFan
   * compiles on the server, in the first measured rounds). Clients and servers are long-lived,
   * so the rows measure the steady state; the children stay up from row to row.
   */
  readonly warmup?: boolean | undefined
}

export interface FigureResult {
  readonly label: string
  readonly unit: string
  readonly raw: number | undefined
  readonly effect: number
  readonly compare: Figure["compare"]
  readonly compared: number
  readonly target: string
  readonly met: boolean | undefined
  readonly note: string
}

const log = (line: string) => process.stderr.write(`${line}\n`)

/** `BENCH_VERBOSE=1`: every measurement's metrics on stderr, to watch the rounds settle. */
const verbose = process.env.BENCH_VERBOSE !== undefined && process.env.BENCH_VERBOSE !== "" &&
  process.env.BENCH_VERBOSE !== "0"

const brief = (metrics: Metrics) =>
  Object.entries(metrics).map(([key, value]) => `${key}=${Number(value.toPrecision(4))}`).join(" ")

export const runRows = async (
  rows: ReadonlyArray<Row>,
  rounds: number,
  warmup: boolean
): Promise<Array<FigureResult>> => {
  for (const row of rows) {
    if (!warmup || row.warmup === false) continue
    for (const variant of row.variants) {
      log(`  warm-up ${row.id} / ${variant.name}`)
      await variant.measure(true)
    }
  }
  const samples = rows.map((row) => row.variants.map(() => [] as Array<Metrics>))
  for (let round = 0; round < rounds; round++) {
    const started = performance.now()
    for (let r = 0; r < rows.length; r++) {
      const order = rows[r].variants.map((_, i) => i)
      if (round % 2 === 1) order.reverse()
      for (const v of order) {
        log(`  round ${round + 1}: ${rows[r].id} / ${rows[r].variants[v].name}`)
        const metrics = await rows[r].variants[v].measure(false)
        if (verbose) log(`    ${brief(metrics)}`)
        samples[r][v].push(metrics)
      }
    }
    log(`round ${round + 1}/${rounds} done in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  }
  return rows.flatMap((row, r) => {
    const index = (variant: string) => {
      const i = row.variants.findIndex((v) => v.name === variant)
      if (i < 0) throw new Error(`${row.id}: no variant ${variant}`)
      return i
    }
    const series = (variant: string, metric: string) => samples[r][index(variant)].map((m) => m[metric] ?? NaN)
    const medians: Medians = { of: (variant, metric) => median(series(variant, metric)), samples: series }
    return row.figures.map((figure): FigureResult => {
      const effect = series(figure.effect, figure.metric)
      const raw = figure.raw === undefined ? undefined : series(figure.raw, figure.metric)
      const perRound = effect.map((value, i) =>
        raw === undefined || figure.compare === "none"
          ? value
          : figure.compare === "ratio"
          ? value / raw[i]
          : value - raw[i]
      )
      const compared = median(perRound)
      return {
        label: figure.label,
        unit: figure.unit,
        raw: raw === undefined ? undefined : median(raw),
        effect: median(effect),
        compare: figure.compare,
        compared,
        target: figure.target,
        met: figure.met === undefined ? undefined : figure.met(compared, medians),
        note: figure.note === undefined ? "" : figure.note(medians)
      }
    })
  })
}
