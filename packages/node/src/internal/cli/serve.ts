/**
 * `effect-tls serve`: a TLS server for trying things, interop and fuzz testing. Prints its
 * address (and the generated CA's path) when it listens, then one line per connection.
 *
 * @internal
 */
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import type * as CertifiedKey from "@effect-tls/core/CertifiedKey"
import * as HandshakeInfo from "@effect-tls/core/HandshakeInfo"
import * as TlsDatabase from "@effect-tls/core/TlsDatabase"
import * as TlsServer from "@effect-tls/core/TlsServer"
import type * as Transport from "@effect-tls/core/Transport"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import * as NodeTransport from "../../NodeTransport.js"
import { readChain } from "./cert.js"
import { CliError, ExitCode, fromInput, messageOf, reasonOf, usage } from "./errors.js"
import { generate } from "./generate.js"
import { loadCertifiedKey, splitList } from "./probe.js"
import * as Sni from "./sni.js"

/** @internal */
export interface ServeOptions {
  readonly host: string
  readonly port: number
  readonly cert: Option.Option<string>
  readonly key: Option.Option<string>
  readonly generate: ReadonlyArray<string>
  readonly sni: ReadonlyArray<string>
  readonly alpn: Option.Option<string>
  readonly clientAuth: "none" | "requested" | "required"
  readonly ca: Option.Option<string>
  readonly mode: "echo" | "reply"
  readonly json: boolean
}

const encoder = new TextEncoder()

/** Writes the generated CA to a fresh temporary folder, removed when the server stops. */
const writeCa = (caPem: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "effect-tls-serve-"))
        const path = Path.join(dir, "ca.pem")
        await Fs.writeFile(path, caPem, { mode: 0o644 })
        return { dir, path }
      },
      catch: fromInput("temporary CA file")
    }),
    ({ dir }) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
  )

const line = (json: boolean, text: string, value: Record<string, unknown>) =>
  Console.log(json ? JSON.stringify(value) : text)

/** @internal */
export const serve = (options: ServeOptions) =>
  Effect.gen(function*() {
    const given = yield* loadCertifiedKey(options.cert, options.key)
    if (given !== undefined && options.generate.length > 0) {
      return yield* Effect.fail(usage("--cert/--key and --generate exclude each other"))
    }
    const sni = yield* Effect.forEach(options.sni, Sni.parseSni)
    if (options.clientAuth !== "none" && Option.isNone(options.ca)) {
      return yield* Effect.fail(usage(`--client-auth ${options.clientAuth} needs --ca FILE (the client CAs)`))
    }
    const names = options.generate.flatMap((n) => n.split(",")).map((n) => n.trim()).filter(Boolean)
    let certificate: CertifiedKey.CertifiedKey
    let caPath: string | null = null
    if (given !== undefined) {
      certificate = given
    } else if (names.length > 0) {
      const generated = yield* generate(names)
      certificate = generated.certifiedKey
      caPath = (yield* writeCa(generated.caPem)).path
    } else if (sni.length > 0) {
      certificate = sni[0]!.certificate
    } else {
      return yield* Effect.fail(usage("give --cert FILE --key FILE, --generate NAME or --sni NAME=CERT,KEY"))
    }
    const database = Option.isSome(options.ca)
      ? TlsDatabase.fromAnchors(yield* readChain(options.ca.value, "--ca file"))
      : undefined
    const serverOptions: TlsServer.ServerOptions = {
      certificate,
      alpn: splitList(options.alpn),
      clientAuth: options.clientAuth,
      database
    }

    const server = yield* Effect.mapError(
      NodeTransport.listen({ host: options.host, port: options.port }),
      (error) => new CliError({ exitCode: ExitCode.Connection, reason: reasonOf(error), detail: messageOf(error) })
    )
    const address = `${
      server.address.host.includes(":") ? `[${server.address.host}]` : server.address.host
    }:${server.address.port}`
    yield* line(options.json, `listening on ${address}${caPath === null ? "" : `\nCA: ${caPath}`}`, {
      event: "listening",
      address,
      host: server.address.host,
      port: server.address.port,
      ca: caPath,
      names: names.length > 0 ? names : certificate.chain[0]!.dnsNames
    })

    const handle = (transport: Transport.Transport) =>
      Effect.gen(function*() {
        const remote = transport.description.remote ?? "?"
        const started = performance.now()
        // --sni: TlsServer's SNI option picks the certificate from the client's server name
        let chosen: Sni.SniEntry | undefined
        const conn = yield* TlsServer.make(
          transport,
          sni.length === 0 ? serverOptions : {
            ...serverOptions,
            sni: {
              resolve: (name) =>
                Effect.sync(() => {
                  chosen = Sni.select(sni, Option.some(name.toLowerCase()))
                  return Option.fromNullable(chosen?.certificate)
                })
            }
          }
        )
        const info = yield* conn.handshake
        const served = (chosen?.certificate ?? certificate).chain[0]!
        const client = Option.flatMap(info.peerCertificate, (chain) => Option.fromNullable(chain[0]))
        yield* line(
          options.json,
          `${remote} ${info.protocolVersion} ${info.ciphersuiteName} alpn=${
            Option.getOrElse(info.negotiatedProtocol, () => "-")
          } sni=${Option.getOrElse(info.serverName, () => "-")} resumed=${info.resumed ? "yes" : "no"}${
            Option.isSome(client) ? ` client="${client.value.subject.text}"` : ""
          } cert="${served.subject.text}" handshake=${(performance.now() - started).toFixed(1)}ms`,
          {
            event: "connection",
            remote,
            ok: true,
            protocol: info.protocolVersion,
            cipher: info.ciphersuiteName,
            alpn: Option.getOrNull(info.negotiatedProtocol),
            sni: Option.getOrNull(info.serverName),
            resumed: info.resumed,
            certificate: { subject: served.subject.text, sha256: served.fingerprintSha256 },
            client: Option.isSome(client)
              ? {
                subject: client.value.subject.text,
                issuer: client.value.issuer.text,
                sha256: client.value.fingerprintSha256,
                flags: CertificateFlags.toArray(info.peerCertificateErrors)
              }
              : null,
            handshakeMs: Math.round((performance.now() - started) * 1000) / 1000
          }
        )
        // the connection's line is out: what happens to its data is the peer's business
        yield* Effect.ignore(
          options.mode === "reply"
            ? conn.write(encoder.encode(`${HandshakeInfo.format(info)}\n`))
            : conn.stream.pipe(Stream.run(conn.sink))
        )
      }).pipe(
        Effect.scoped,
        Effect.catchAll((error) =>
          line(
            options.json,
            `${transport.description.remote ?? "?"} failed: ${reasonOf(error)}: ${messageOf(error)}`,
            {
              event: "connection",
              remote: transport.description.remote ?? null,
              ok: false,
              error: { reason: reasonOf(error), message: messageOf(error) }
            }
          )
        )
      )

    return yield* server.run(handle)
  })
