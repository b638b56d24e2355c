/**
 * Rows, variants, figures and the interleaved rounds.
 *
 * A `Row` is a set of configurations (`Variant`s) measured together; each measurement
 * returns named metrics. A round measures every variant of the row once (the variants' order
 * reversed every other round), so slow phases of a shared machine hit every configuration
 * alike. A `Figure` reads one metric of a row: the raw node:tls variant's median, the
 * effect-tls variant's median, and the median of the same-round ratios (or differences); a
 * `cold` figure reads the first warm-up measurement instead (code not yet compiled by V8).
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
  /**
   * Read the first warm-up measurement of each variant (fresh processes: what the first
   * connections cost while V8 compiles), not the rounds. Informative only.
   */
  readonly cold?: boolean | undefined
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
   * Whole measurements of every variant, interleaved, before the rounds, discarded (default
   * `settings.warmups`; never in a smoke run): clients and servers are long-lived, so the rounds
   * measure the steady state. Each row runs in fresh processes, so this is all the warm-up a
   * row's code gets (effect-tls ends took about 3000 full handshakes to settle, raw node:tls
   * fewer than 640); the first warm-up measurement is kept for the `cold` figures.
   */
  readonly warmups?: number | undefined
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

/** Every variant of `row` measured once, in turn (the order reversed every other pass). */
const pass = async (row: Row, pass: number, label: string): Promise<Array<Metrics>> => {
  const measured = new Array<Metrics>(row.variants.length)
  const order = row.variants.map((_, i) => i)
  if (pass % 2 === 1) order.reverse()
  for (const v of order) {
    log(`  ${label}: ${row.id} / ${row.variants[v].name}`)
    measured[v] = await row.variants[v].measure(label.startsWith("warm-up"))
    if (verbose) log(`    ${brief(measured[v])}`)
  }
  return measured
}

/** One row: its warm-up passes (`warmups`), then `rounds` interleaved rounds, read into its figures. */
export const runRow = async (row: Row, rounds: number, warmups: number): Promise<Array<FigureResult>> => {
  const cold: Array<Metrics | undefined> = row.variants.map(() => undefined)
  for (let w = 0; w < (row.warmups ?? warmups); w++) {
    const measured = await pass(row, w, `warm-up ${w + 1}`)
    if (w === 0) measured.forEach((metrics, v) => (cold[v] = metrics))
  }
  const samples = row.variants.map(() => [] as Array<Metrics>)
  for (let round = 0; round < rounds; round++) {
    const started = performance.now()
    const measured = await pass(row, round, `round ${round + 1}`)
    measured.forEach((metrics, v) => samples[v].push(metrics))
    log(`${row.id}: round ${round + 1}/${rounds} done in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  }
  const index = (variant: string) => {
    const i = row.variants.findIndex((v) => v.name === variant)
    if (i < 0) throw new Error(`${row.id}: no variant ${variant}`)
    return i
  }
  const series = (variant: string, metric: string) => samples[index(variant)].map((m) => m[metric] ?? NaN)
  const coldSeries = (variant: string, metric: string) => {
    const metrics = cold[index(variant)]
    return metrics === undefined ? [] : [metrics[metric] ?? NaN]
  }
  const medians: Medians = { of: (variant, metric) => median(series(variant, metric)), samples: series }
  return row.figures.flatMap((figure): Array<FigureResult> => {
    const read = figure.cold === true ? coldSeries : series
    const effect = read(figure.effect, figure.metric)
    // (a cold figure of a run without warm-up has nothing to read)
    if (effect.length === 0) return []
    const raw = figure.raw === undefined ? undefined : read(figure.raw, figure.metric)
    const perRound = effect.map((value, i) =>
      raw === undefined || figure.compare === "none"
        ? value
        : figure.compare === "ratio"
        ? value / raw[i]
        : value - raw[i]
    )
    const compared = median(perRound)
    return [{
      label: figure.label,
      unit: figure.unit,
      raw: raw === undefined ? undefined : median(raw),
      effect: median(effect),
      compare: figure.compare,
      compared,
      target: figure.target,
      met: figure.cold === true || figure.met === undefined ? undefined : figure.met(compared, medians),
      note: figure.note === undefined ? "" : figure.note(medians)
    }]
  })
}
