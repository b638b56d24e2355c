/**
 * A small SMTP-like server and client negotiating STARTTLS (RFC 3207) over any Transport, with
 * effect-tls's guarded upgrade: plaintext pipelined after STARTTLS is refused, never read as if
 * it had come over TLS.
 *
 *   pnpm --filter @effect-tls/examples smtp        # server and client over loopback TCP
 *
 * `openssl s_client -starttls smtp -connect 127.0.0.1:PORT` and `gnutls-cli --starttls-proto=smtp
 * -p PORT 127.0.0.1` talk to `serve` too (lines may end in LF: gnutls-cli's `--crlf` mangles all
 * but the first line of each read).
 */
import type { CertifiedKey } from "@effect-tls/core/CertifiedKey"
import * as StartTls from "@effect-tls/core/StartTls"
import type * as TlsClient from "@effect-tls/core/TlsClient"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import type * as Transport from "@effect-tls/core/Transport"
import * as NodeTlsBackend from "@effect-tls/node/NodeTlsBackend"
import * as NodeTransport from "@effect-tls/node/NodeTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The peer broke the protocol. */
export class SmtpError extends Data.TaggedError("SmtpError")<{ readonly detail: string }> {}

/** Lines over TLS: a small reader over the connection's plaintext. */
const tlsLines = (conn: TlsConnection) => {
  let buffered = ""
  const readLine: Effect.Effect<Option.Option<string>, unknown> = Effect.suspend(() => {
    const lf = buffered.indexOf("\n")
    if (lf >= 0) {
      const line = buffered.slice(0, lf).replace(/\r$/, "")
      buffered = buffered.slice(lf + 1)
      return Effect.succeed(Option.some(line))
    }
    return Effect.flatMap(conn.read, (chunk) => {
      if (Option.isNone(chunk)) return Effect.succeed(Option.none())
      buffered += decoder.decode(chunk.value)
      return readLine
    })
  })
  return { readLine, writeLine: (line: string) => conn.write(encoder.encode(`${line}\r\n`)) }
}

const writeLine = (transport: Transport.Transport, line: string) => transport.write(encoder.encode(`${line}\r\n`))

/**
 * Serves one SMTP-like session: greeting, EHLO (offering STARTTLS), STARTTLS, then the same
 * dialogue over TLS. Commands other than EHLO/QUIT get `250 OK`. Returns the commands the
 * client sent over TLS.
 */
export const serve = (transport: Transport.Transport, certificate: CertifiedKey) =>
  Effect.gen(function*() {
    yield* writeLine(transport, "220 localhost ESMTP effect-tls")
    while (true) {
      const line = yield* StartTls.readLine(transport)
      if (Option.isNone(line)) return yield* new SmtpError({ detail: "the client left before STARTTLS" })
      const command = line.value.toUpperCase()
      if (command.startsWith("EHLO")) {
        yield* writeLine(transport, "250-localhost")
        yield* writeLine(transport, "250 STARTTLS")
      } else if (command === "STARTTLS") {
        yield* writeLine(transport, "220 2.0.0 Ready to start TLS")
        break
      } else if (command === "QUIT") {
        yield* writeLine(transport, "221 Bye")
        return []
      } else {
        yield* writeLine(transport, "530 5.7.0 Must issue a STARTTLS command first")
      }
    }
    const conn = yield* StartTls.server(transport, { certificate })
    const lines = tlsLines(conn)
    const received: Array<string> = []
    while (true) {
      const line = yield* lines.readLine
      if (Option.isNone(line)) break
      received.push(line.value)
      const command = line.value.toUpperCase()
      if (command.startsWith("EHLO")) yield* lines.writeLine("250 localhost")
      else if (command === "QUIT") {
        yield* lines.writeLine("221 Bye")
        break
      } else yield* lines.writeLine("250 OK")
    }
    return received
  }).pipe(Effect.scoped)

/** Reads an SMTP reply (multi-line `250-...`), checks its code. */
const reply = (read: Effect.Effect<Option.Option<string>, unknown>, code: string) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    while (true) {
      const line = yield* read
      if (Option.isNone(line)) return yield* new SmtpError({ detail: `end of input waiting for ${code}` })
      lines.push(line.value)
      if (!line.value.startsWith(code)) return yield* new SmtpError({ detail: `expected ${code}, got ${line.value}` })
      if (line.value[3] !== "-") return lines
    }
  })

/**
 * The client: greeting, EHLO, STARTTLS (it must be offered), then EHLO and QUIT over TLS.
 * Returns the server's EHLO answer over TLS.
 */
export const client = (transport: Transport.Transport, options: TlsClient.ClientOptions) =>
  Effect.gen(function*() {
    const read = StartTls.readLine(transport)
    yield* reply(read, "220")
    yield* writeLine(transport, "EHLO client.test")
    const ehlo = yield* reply(read, "250")
    if (!ehlo.some((line) => line.slice(4).toUpperCase() === "STARTTLS")) {
      return yield* new SmtpError({ detail: "the server does not offer STARTTLS" })
    }
    yield* writeLine(transport, "STARTTLS")
    yield* reply(read, "220")
    const conn = yield* StartTls.client(transport, options)
    const lines = tlsLines(conn)
    yield* lines.writeLine("EHLO client.test")
    const secure = yield* reply(lines.readLine, "250")
    yield* lines.writeLine("QUIT")
    yield* reply(lines.readLine, "221")
    return secure
  }).pipe(Effect.scoped)

/** The demo: our server and client over loopback TCP. */
export const main = Effect.gen(function*() {
  const fixture = yield* TestPki.makeFixture()
  const listener = yield* NodeTransport.listen({ port: 0 })
  yield* Effect.forkScoped(
    listener.run((transport) => Effect.flatMap(serve(transport, fixture.server.certifiedKey), Console.log))
  )
  const transport = yield* NodeTransport.connect({ host: "127.0.0.1", port: listener.address.port })
  const answer = yield* client(transport, { serverIdentity: "localhost", database: fixture.pki.database })
  yield* Console.log(`over TLS the server said: ${answer.join(" | ")}`)
}).pipe(Effect.scoped, Effect.provide(NodeTlsBackend.layer))

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(main).catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
