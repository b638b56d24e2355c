/**
 * `effect-tls probe HOST:PORT`: connects, handshakes, and reports what was negotiated, the
 * peer's chain, the complete verification flags, channel-binding values, whether a second
 * connection resumes, and the timings of TCP connect, first byte and handshake.
 *
 * @internal
 */
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import * as CertifiedKey from "@effect-tls/core/CertifiedKey"
import type * as ChannelBinding from "@effect-tls/core/ChannelBinding"
import type * as HandshakeInfo from "@effect-tls/core/HandshakeInfo"
import type * as ProtocolVersion from "@effect-tls/core/ProtocolVersion"
import * as SessionCache from "@effect-tls/core/SessionCache"
import * as TlsClient from "@effect-tls/core/TlsClient"
import * as TlsDatabase from "@effect-tls/core/TlsDatabase"
import type * as TlsError from "@effect-tls/core/TlsError"
import * as Transport from "@effect-tls/core/Transport"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Fs from "node:fs/promises"
import * as NodeTlsDatabase from "../../NodeTlsDatabase.js"
import * as NodeTransport from "../../NodeTransport.js"
import { readChain } from "./cert.js"
import { CliError, ExitCode, fromInput, messageOf, reasonOf, usage } from "./errors.js"
import * as Report from "./report.js"
import { smtp } from "./smtp.js"

/** @internal */
export interface ProbeOptions {
  readonly target: string
  readonly servername: Option.Option<string>
  readonly alpn: Option.Option<string>
  readonly ca: Option.Option<string>
  readonly cert: Option.Option<string>
  readonly key: Option.Option<string>
  readonly tls12: boolean
  readonly tls13: boolean
  readonly starttls: Option.Option<"smtp">
  readonly timeout: number
  readonly json: boolean
}

/** `host:port`, `[v6]:port`; the port defaults to 443. */
export const parseTarget = (target: string): Effect.Effect<{ host: string; port: number }, CliError> => {
  const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(target) ?? /^([^:]+)(?::(\d+))?$/.exec(target)
  const port = match?.[2] === undefined ? 443 : Number(match[2])
  if (match === null || !Number.isInteger(port) || port < 1 || port > 65535) {
    return Effect.fail(usage(`${target}: expected HOST:PORT`))
  }
  return Effect.succeed({ host: match[1]!, port })
}

/** @internal */
export const splitList = (list: Option.Option<string>): ReadonlyArray<string> =>
  Option.match(list, { onNone: () => [], onSome: (text) => text.split(",").map((s) => s.trim()).filter(Boolean) })

const readText = (path: string, what: string) =>
  Effect.tryPromise({ try: () => Fs.readFile(path, "utf8"), catch: fromInput(`${what} ${path}`) })

/** @internal */
export const loadCertifiedKey = (cert: Option.Option<string>, key: Option.Option<string>) =>
  Effect.gen(function*() {
    if (Option.isNone(cert) && Option.isNone(key)) return undefined
    if (Option.isNone(cert) || Option.isNone(key)) return yield* Effect.fail(usage("--cert and --key go together"))
    const certificatePem = yield* readText(cert.value, "--cert")
    const keyPem = yield* readText(key.value, "--key")
    return yield* Effect.mapError(CertifiedKey.fromPem(certificatePem, keyPem), fromInput("--cert/--key"))
  })

const millis = (start: number, end: number | undefined) =>
  end === undefined ? null : Math.round((end - start) * 1000) / 1000

/** Whether the handshake failed because *we* refused the server's chain (exit 1). */
const refusedByUs = (error: TlsError.TlsError): error is TlsError.TlsBadCertificateError =>
  error._tag === "TlsBadCertificateError" && error.alert === undefined && error.side === "client"

const connectionError = (error: unknown) =>
  new CliError({ exitCode: ExitCode.Connection, reason: reasonOf(error), detail: messageOf(error), cause: error })

const bindingTypes: ReadonlyArray<ChannelBinding.ChannelBindingType> = [
  "tls-unique",
  "tls-server-end-point",
  "tls-exporter"
]

/** @internal */
export const probe = (options: ProbeOptions) =>
  Effect.gen(function*() {
    const { host, port } = yield* parseTarget(options.target)
    if (options.tls12 && options.tls13) return yield* Effect.fail(usage("--tls1.2 and --tls1.3 exclude each other"))
    const version: ProtocolVersion.ProtocolVersion | undefined = options.tls12
      ? "TLSv1.2"
      : options.tls13
      ? "TLSv1.3"
      : undefined
    const anchors = Option.isSome(options.ca) ? yield* readChain(options.ca.value, "--ca file") : undefined
    const certificate = yield* loadCertifiedKey(options.cert, options.key)
    const alpn = splitList(options.alpn)
    const identity = Option.getOrElse(options.servername, () => host)
    const clientOptions: TlsClient.ClientOptions = {
      serverIdentity: identity,
      alpn,
      certificate,
      // loaded before the clock starts, so the timings are the connection's own
      database: anchors === undefined ? yield* NodeTlsDatabase.system : TlsDatabase.fromAnchors(anchors),
      minVersion: version,
      maxVersion: version,
      handshakeTimeout: options.timeout * 1000
    }

    const first = yield* Effect.scoped(Effect.gen(function*() {
      const opened = yield* Effect.either(open(host, port, options, clientOptions))
      if (Either.isLeft(opened)) return { first: opened, bindings: [] }
      const first = opened.right
      if (Either.isLeft(first.result)) return { first: opened, bindings: [] }
      const bindings = yield* Effect.forEach(bindingTypes, (type) =>
        Effect.map(Effect.either(first.conn.channelBinding(type)), (value) => ({ type, value })))
      // TLS 1.3 tickets come after the handshake: give them a moment (application data read meanwhile is dropped)
      yield* Effect.ignore(Effect.timeout(first.conn.read, 300))
      return { first: opened, bindings }
    }))
    // the first connection is closed (some servers take one at a time) and left its session in the cache
    const resumption = Either.isLeft(first.first) || Either.isLeft(first.first.right.result)
      ? undefined
      : yield* Effect.scoped(Effect.either(open(host, port, options, clientOptions)))
    const report: ProbeReport = { ...first, resumption }
    return yield* render(options, { host, port, identity }, report)
  }).pipe(
    // a cache of this probe's own: the first connection is a full handshake, the second may resume it
    Effect.provideServiceEffect(
      SessionCache.SessionCache,
      Effect.sync(() =>
        SessionCache.makeMemory()
      )
    )
  )

interface Opened {
  readonly result: Either.Either<HandshakeInfo.HandshakeInfo, TlsError.TlsError>
  readonly conn: TlsClient.TlsClientConnection
  readonly timings: {
    readonly tcpConnectMs: number | null
    readonly firstByteMs: number | null
    readonly handshakeMs: number | null
  }
}

/** One connection: TCP (and STARTTLS), a transport that notes its first byte, the TLS client. */
const open = (host: string, port: number, options: ProbeOptions, clientOptions: TlsClient.ClientOptions) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    const raw = yield* Effect.mapError(
      NodeTransport.connect({ host, port, timeout: options.timeout * 1000 }),
      connectionError
    )
    const tcp = performance.now()
    if (Option.isSome(options.starttls)) yield* smtp(raw)
    const tlsStart = performance.now()
    let firstByte: number | undefined
    const transport = Transport.make({
      read: Effect.tap(raw.read, (chunk) => {
        if (firstByte === undefined && Option.isSome(chunk)) firstByte = performance.now()
      }),
      write: raw.write,
      shutdownWrite: raw.shutdownWrite,
      description: raw.description
    })
    const conn = yield* Effect.mapError(TlsClient.make(transport, clientOptions), connectionError)
    const result = yield* Effect.either(conn.handshake)
    const done = performance.now()
    const opened: Opened = {
      conn,
      result,
      timings: {
        tcpConnectMs: millis(t0, tcp),
        firstByteMs: millis(tlsStart, firstByte),
        handshakeMs: millis(tlsStart, done)
      }
    }
    return opened
  })

interface ProbeReport {
  readonly first: Either.Either<Opened, CliError>
  readonly bindings: ReadonlyArray<{
    readonly type: ChannelBinding.ChannelBindingType
    readonly value: Either.Either<Uint8Array, ChannelBinding.ChannelBindingError>
  }>
  readonly resumption: Either.Either<Opened, CliError> | undefined
}

const errorJson = (error: unknown) =>
  error instanceof CliError
    ? { reason: error.reason, message: error.detail }
    : { reason: reasonOf(error), message: messageOf(error) }

const render = (
  options: ProbeOptions,
  target: { readonly host: string; readonly port: number; readonly identity: string },
  report: ProbeReport
) =>
  Effect.gen(function*() {
    const opened = report.first
    const failure: TlsError.TlsError | CliError | undefined = Either.isLeft(opened)
      ? opened.left
      : Either.getLeft(opened.right.result).pipe(Option.getOrUndefined)
    const info = Either.isRight(opened) ? Either.getOrUndefined(opened.right.result) : undefined
    const timings = Either.isRight(opened) ? opened.right.timings : null
    const chain = info !== undefined
      ? Option.getOrElse(info.peerCertificate, () => [])
      : failure?._tag === "TlsBadCertificateError"
      ? failure.peerCertificate
      : []
    const flags = info !== undefined
      ? info.peerCertificateErrors
      : failure?._tag === "TlsBadCertificateError" && failure.alert === undefined
      ? failure.flags
      : undefined
    const exitCode = failure === undefined
      ? ExitCode.Ok
      : failure._tag === "CliError"
      ? failure.exitCode
      : refusedByUs(failure)
      ? ExitCode.Verification
      : ExitCode.Connection
    const resumed = report.resumption === undefined
      ? undefined
      : Either.isLeft(report.resumption)
      ? { error: errorJson(report.resumption.left) }
      : Either.isLeft(report.resumption.right.result)
      ? { error: errorJson(report.resumption.right.result.left) }
      : { resumed: report.resumption.right.result.right.resumed, timings: report.resumption.right.timings }
    if (options.json) {
      yield* Console.log(JSON.stringify(
        {
          ok: failure === undefined,
          exitCode,
          target: { host: target.host, port: target.port },
          serverIdentity: target.identity,
          starttls: Option.getOrNull(options.starttls),
          protocol: info?.protocolVersion ?? null,
          cipher: info?.ciphersuiteName ?? null,
          alpn: info === undefined ? null : Option.getOrNull(info.negotiatedProtocol),
          serverName: info === undefined ? null : Option.getOrNull(info.serverName),
          resumed: info?.resumed ?? null,
          verification: flags === undefined
            ? null
            : { ok: CertificateFlags.isEmpty(flags), flags: Report.flagsJson(flags) },
          chain: chain.map(Report.certificateJson),
          channelBinding: Object.fromEntries(report.bindings.map(({ type, value }) => [
            type,
            Either.isRight(value) ? Report.hex(value.right) : { unavailable: errorJson(value.left) }
          ])),
          resumption: resumed ?? null,
          timings,
          error: failure === undefined ? null : errorJson(failure)
        },
        null,
        2
      ))
    } else {
      const now = new Date()
      const lines = [
        `target:          ${target.host}:${target.port}${
          Option.isSome(options.starttls) ? ` (STARTTLS ${options.starttls.value})` : ""
        }, identity ${target.identity}`
      ]
      if (timings !== null) {
        lines.push(
          `timings:         TCP connect ${timings.tcpConnectMs} ms, first byte ${
            timings.firstByteMs ?? "-"
          } ms, handshake ${timings.handshakeMs} ms`
        )
      }
      if (info !== undefined) {
        lines.push(
          `protocol:        ${info.protocolVersion}`,
          `cipher suite:    ${info.ciphersuiteName}`,
          `ALPN:            ${Option.getOrElse(info.negotiatedProtocol, () => "(none)")}`,
          `SNI sent:        ${Option.getOrElse(info.serverName, () => "(none)")}`
        )
      }
      if (flags !== undefined) {
        lines.push(
          `verification:    ${CertificateFlags.isEmpty(flags) ? "passed" : "REFUSED"} (flags: ${
            CertificateFlags.format(flags)
          })`
        )
        for (const line of Report.flagsText(flags, "                   ")) lines.push(line)
      }
      if (chain.length > 0) {
        lines.push(`chain (${chain.length}):`)
        chain.forEach((certificate, i) => {
          for (const line of Report.certificateText(certificate, i, now)) lines.push(`  ${line}`)
        })
      }
      if (report.bindings.length > 0) {
        lines.push("channel binding:")
        for (const { type, value } of report.bindings) {
          lines.push(
            `  ${type.padEnd(21)} ${Either.isRight(value) ? Report.hex(value.right) : `n/a (${value.left.reason})`}`
          )
        }
      }
      if (resumed !== undefined) {
        lines.push(
          `resumption:      ${
            "error" in resumed
              ? `second connection failed: ${resumed.error.message}`
              : resumed.resumed
              ? `resumed on a second connection (handshake ${resumed.timings.handshakeMs} ms)`
              : "not resumed on a second connection"
          }`
        )
      }
      yield* Console.log(lines.join("\n"))
    }
    if (failure !== undefined) {
      return yield* Effect.fail(
        failure._tag === "CliError"
          ? failure
          : new CliError({ exitCode, reason: reasonOf(failure), detail: messageOf(failure), cause: failure })
      )
    }
    return ExitCode.Ok
  })
