/**
 * `effect-tls cert inspect FILE` and `effect-tls cert verify CHAIN --ca FILE`: the parsed
 * certificates, and `TlsDatabase.verifyChain`'s complete flags.
 *
 * @internal
 */
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import * as TlsDatabase from "@effect-tls/core/TlsDatabase"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as NodeTlsDatabase from "../../NodeTlsDatabase.js"
import { CliError, ExitCode, fromInput, usage } from "./errors.js"
import * as Report from "./report.js"

/** @internal */
export const readChain = (path: string, what: string) =>
  Effect.flatMap(
    Effect.mapError(NodeTlsDatabase.readCertificates(path), fromInput(what)),
    (chain) => chain.length === 0 ? Effect.fail(usage(`${what}: ${path} holds no certificate`)) : Effect.succeed(chain)
  )

/** @internal */
export const inspect = (options: { readonly file: string; readonly json: boolean }) =>
  Effect.gen(function*() {
    const chain = yield* readChain(options.file, "certificate file")
    if (options.json) {
      yield* Console.log(JSON.stringify({ certificates: chain.map(Report.certificateJson) }, null, 2))
    } else {
      const now = new Date()
      yield* Console.log(
        chain.flatMap((certificate, i) => Report.certificateText(certificate, chain.length > 1 ? i : undefined, now))
          .join("\n")
      )
    }
    return ExitCode.Ok
  })

/** @internal */
export const parseTime = (text: string): Effect.Effect<Date, CliError> => {
  const time = new Date(/^\d+$/.test(text) ? Number(text) * 1000 : text)
  return Number.isNaN(time.getTime())
    ? Effect.fail(usage(`--time ${text}: not an ISO 8601 date nor seconds since the epoch`))
    : Effect.succeed(time)
}

/** @internal */
export const verify = (options: {
  readonly chain: string
  readonly ca: string
  readonly host: Option.Option<string>
  readonly time: Option.Option<string>
  readonly purpose: TlsDatabase.Purpose
  readonly json: boolean
}) =>
  Effect.gen(function*() {
    const chain = yield* readChain(options.chain, "chain file")
    const anchors = yield* readChain(options.ca, "--ca file")
    const time = Option.isSome(options.time) ? yield* parseTime(options.time.value) : undefined
    const database = TlsDatabase.fromAnchors(anchors)
    const flags = yield* database.verifyChain(chain, {
      purpose: options.purpose,
      identity: Option.getOrUndefined(options.host),
      time
    })
    const ok = CertificateFlags.isEmpty(flags)
    if (options.json) {
      yield* Console.log(JSON.stringify(
        {
          ok,
          flags: Report.flagsJson(flags),
          purpose: options.purpose,
          identity: Option.getOrNull(options.host),
          time: (time ?? new Date()).toISOString(),
          chain: chain.map(Report.certificateJson)
        },
        null,
        2
      ))
    } else {
      const now = time ?? new Date()
      yield* Console.log([
        `${ok ? "OK" : "REFUSED"}: ${chain[0]!.subject.text}${
          Option.isSome(options.host) ? ` for ${options.host.value}` : ""
        } (purpose ${options.purpose}, at ${now.toISOString()})`,
        `flags: ${CertificateFlags.format(flags)}`,
        ...Report.flagsText(flags),
        "chain:",
        ...chain.flatMap((certificate, i) => Report.certificateText(certificate, i, now)).map((line) => `  ${line}`)
      ].join("\n"))
    }
    if (!ok) {
      return yield* Effect.fail(
        new CliError({
          exitCode: ExitCode.Verification,
          reason: "CertificateFlags",
          detail: `${chain[0]!.subject.text} refused: ${CertificateFlags.format(flags)}`
        })
      )
    }
    return ExitCode.Ok
  })
