/** The results table (markdown), printed and written to `bench/RESULTS.md`. */
import * as os from "node:os"
import type { FigureResult } from "./rounds.js"
import type { Settings } from "./settings.js"

const number = (value: number, unit: string) => {
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2
  return `${value.toFixed(digits)} ${unit}`
}

const compared = (result: FigureResult) =>
  result.raw === undefined || result.compare === "none"
    ? "—"
    : result.compare === "ratio"
    ? `${result.compared.toFixed(2)} ×`
    : `${result.compared >= 0 ? "+" : ""}${number(result.compared, result.unit)}`

const met = (result: FigureResult) => result.met === undefined ? "—" : result.met ? "met" : "**not met**"

export const machine = (): string => {
  const cpus = os.cpus()
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? "?"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `${os.type()} ${os.release()}, node ${process.version} (OpenSSL ${process.versions.openssl})`
}

export const table = (results: ReadonlyArray<FigureResult>): string => {
  const rows = results.map((result) => [
    result.label,
    result.raw === undefined ? "—" : number(result.raw, result.unit),
    number(result.effect, result.unit),
    compared(result),
    result.target,
    met(result),
    result.note
  ])
  const header = ["figure", "raw node:tls", "effect-tls", "effect-tls vs raw", "target", "", "notes"]
  const line = (cells: ReadonlyArray<string>) => `| ${cells.join(" | ")} |`
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n")
}

export const document = (
  results: ReadonlyArray<FigureResult>,
  settings: Settings,
  seconds: number,
  date: Date
): string =>
  [
    "# effect-tls against raw node:tls",
    "",
    "Written by `pnpm bench` (`bench/src/main.ts`); do not edit by hand.",
    "",
    `- date: ${date.toISOString().slice(0, 16).replace("T", " ")} UTC; run: ${settings.kind}, ` +
    `${settings.rounds} interleaved rounds after ${settings.warmups} warm-up measurements of every variant ` +
    `(${settings.handshakeWarmups} for the handshake and resumption rows), ${seconds.toFixed(0)} s`,
    `- machine: ${machine()}; shared with other work while it ran, so absolute figures vary; ` +
    "the ratios are what to read",
    "- TLS 1.3 TLS_AES_128_GCM_SHA256 on every connection; leaves from the testkit PKI (P-256 unless the row " +
    "says RSA-2048); effect-tls verifies with the PKI's TlsDatabase and the default policy",
    "- client and server in separate processes (each measures its own CPU and heap), and each implementation " +
    "in its own pair of processes (raw node:tls and effect-tls never share a V8 heap; the churn row's " +
    "client loops are raw node:tls's for both servers); the memory-pair rows run both ends in one process; " +
    "every row starts fresh processes, so no row runs on another's compiled code or heap",
    "- the rounds measure the steady state of long-lived processes; the rows \"the first N of fresh processes\" " +
    "read the first warm-up measurement instead (one sample: code still being compiled by V8)",
    "- raw and effect-tls columns: medians over the rounds; \"vs raw\": the median of the same-round ratios " +
    "(or differences)",
    "",
    table(results),
    ""
  ].join("\n")
