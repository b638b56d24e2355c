/**
 * STARTTLS: upgrading a transport that has carried plaintext (SMTP, IMAP, POP3, XMPP, LDAP,
 * PostgreSQL) to TLS, without the classic command injection (CVE-2011-0411 and its family).
 *
 * The attack: a man in the middle appends plaintext to the peer's `STARTTLS` command (or to the
 * server's `220` answer); a naive implementation reads it into its line buffer before the
 * upgrade and then treats it as if it had arrived over TLS. Here, plaintext the application read
 * past the command is pushed back onto the transport (`Transport.unread`, which `readLine`
 * does for you), and `upgrade` looks at what the TLS layer would read first: bytes already
 * buffered when the upgrade starts, and the first chunk that arrives, must begin a TLS record.
 * Plaintext there fails the upgrade with `StartTlsError` (reason `"PlaintextAfterCommand"`),
 * naming it, instead of an engine's opaque "wrong version number"; it never reaches the
 * application. `pipelinedPlaintext: "discard"` drops the plaintext buffered at the upgrade
 * instead (Postfix's answer to CVE-2011-0411); plaintext arriving later is still refused.
 *
 * Go's `net/smtp.Client.StartTLS` and Node's `new tls.TLSSocket(socket)` leave this to the
 * application.
 *
 * @example
 * ```ts
 * import { StartTls } from "@effect-tls/core"
 * import type { CertifiedKey, Transport } from "@effect-tls/core"
 * import { Effect } from "effect"
 *
 * declare const transport: Transport.Transport
 * declare const certificate: CertifiedKey.CertifiedKey
 *
 * // server side, after reading "STARTTLS\r\n" with StartTls.readLine
 * const secure = Effect.gen(function*() {
 *   yield* transport.write(new TextEncoder().encode("220 2.0.0 Ready to start TLS\r\n"))
 *   return yield* StartTls.server(transport, { certificate })
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import { concat } from "./internal/bytes.js"
import { TextDecoder } from "./internal/webcrypto.js"
import type { TlsBackend } from "./TlsBackend.js"
import * as TlsClient from "./TlsClient.js"
import type { TlsConnection } from "./TlsConnection.js"
import type { TlsError } from "./TlsError.js"
import * as TlsServer from "./TlsServer.js"
import * as Transport from "./Transport.js"

/**
 * @since 0.1.0
 * @category errors
 */
export class StartTlsError extends Data.TaggedError("StartTlsError")<{
  /**
   * `PlaintextAfterCommand`: the peer sent plaintext after its STARTTLS command or answer;
   * `LineTooLong`: `readLine` found no line end within `maxLength`.
   */
  readonly reason: "PlaintextAfterCommand" | "LineTooLong"
  readonly side?: "client" | "server" | undefined
  /** How many plaintext bytes were seen (a lower bound). */
  readonly bytes: number
  readonly detail: string
}> {
  /** @since 0.1.0 */
  override get message(): string {
    return `STARTTLS ${this.reason}${this.side ? ` (${this.side})` : ""}: ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isStartTlsError = (u: unknown): u is StartTlsError => Predicate.isTagged(u, "StartTlsError")

/**
 * @since 0.1.0
 * @category models
 */
export interface UpgradeOptions {
  /**
   * Plaintext the peer sent after its command, already buffered when the upgrade starts:
   * `"refuse"` (default) fails the upgrade, `"discard"` drops it. Plaintext arriving later,
   * where the first TLS record should be, is always refused.
   */
  readonly pipelinedPlaintext?: "refuse" | "discard" | undefined
}

/** Whether `bytes` can begin a TLS record: handshake (22) or alert (21), version 3.x. */
const beginsTls = (bytes: Uint8Array): boolean =>
  (bytes[0] === 22 || bytes[0] === 21) && (bytes.length < 2 || bytes[1] === 3)

const plaintextError = (side: "client" | "server", bytes: Uint8Array, when: string) => {
  const shown = new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(0, 32))
  return new StartTlsError({
    reason: "PlaintextAfterCommand",
    side,
    bytes: bytes.length,
    detail: `${bytes.length} plaintext bytes ${when} (${JSON.stringify(shown)}${
      bytes.length > 32 ? "..." : ""
    }): a STARTTLS command injection`
  })
}

/**
 * Upgrades `transport` with `connect` (e.g. `(t) => TlsClient.connect(t, options)`), guarding
 * the switch: see the module's description. `side` names who we are, for the error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const upgrade = <A extends TlsConnection, E, R>(
  transport: Transport.Transport,
  side: "client" | "server",
  connect: (transport: Transport.Transport) => Effect.Effect<A, E, R>,
  options?: UpgradeOptions | undefined
): Effect.Effect<A, E | StartTlsError | Transport.TransportError, R> =>
  Effect.gen(function*() {
    const discard = options?.pipelinedPlaintext === "discard"
    // bytes already buffered (pushed back by the application's reader): look at them now
    const canTell = Predicate.hasProperty(transport, Transport.PendingInputSymbol)
    while (canTell && Transport.hasPendingInput(transport)) {
      const chunk = yield* transport.read
      if (Option.isNone(chunk)) break
      if (beginsTls(chunk.value)) {
        yield* transport.unread(chunk.value)
        break
      }
      if (!discard) return yield* plaintextError(side, chunk.value, "buffered when the upgrade began")
    }
    // and the first chunk the TLS layer reads must begin a record
    let tripped: StartTlsError | undefined = undefined
    let first = true
    const guarded: Transport.Transport = {
      [Transport.TypeId]: Transport.TypeId,
      read: Effect.flatMap(transport.read, (chunk) => {
        if (!first || Option.isNone(chunk) || chunk.value.length === 0) return Effect.succeed(chunk)
        first = false
        if (beginsTls(chunk.value)) return Effect.succeed(chunk)
        tripped = plaintextError(side, chunk.value, "where the first TLS record belongs")
        return Effect.fail(
          new Transport.TransportError({ reason: "Read", description: transport.description, cause: tripped })
        )
      }),
      write: transport.write,
      shutdownWrite: transport.shutdownWrite,
      unread: transport.unread,
      description: transport.description
    }
    return yield* Effect.catchAll(
      connect(guarded),
      (error): Effect.Effect<never, E | StartTlsError> => Effect.fail(tripped ?? error)
    )
  })

/**
 * What `client` and `server` give: the TLS connection over the upgraded transport, in the
 * caller's scope.
 *
 * @since 0.1.0
 * @category models
 */
export type Upgraded<A extends TlsConnection> = Effect.Effect<
  A,
  TlsError | StartTlsError | Transport.TransportError,
  Scope.Scope | TlsBackend
>

/**
 * The client side: `TlsClient.connect` over the upgraded transport.
 *
 * @since 0.1.0
 * @category constructors
 */
export const client = (
  transport: Transport.Transport,
  options: TlsClient.ClientOptions & UpgradeOptions = {}
): Upgraded<TlsClient.TlsClientConnection> =>
  upgrade(transport, "client", (guarded) => TlsClient.connect(guarded, options), options)

/**
 * The server side: `TlsServer.accept` over the upgraded transport.
 *
 * @since 0.1.0
 * @category constructors
 */
export const server = (
  transport: Transport.Transport,
  options: TlsServer.ServerOptions & UpgradeOptions
): Upgraded<TlsServer.TlsServerConnection> =>
  upgrade(transport, "server", (guarded) => TlsServer.accept(guarded, options), options)

/**
 * Reads one CRLF- (or LF-) terminated line of plaintext, without its terminator, and pushes
 * back whatever followed it (`Transport.unread`), so nothing read past the line is lost or
 * mistaken for later input. None at the end of input. A line longer than `maxLength` bytes
 * (default 4096) fails with reason `"LineTooLong"`.
 *
 * @since 0.1.0
 * @category utils
 */
export const readLine = (
  transport: Transport.Transport,
  options?: { readonly maxLength?: number | undefined }
): Effect.Effect<Option.Option<string>, Transport.TransportError | StartTlsError> =>
  Effect.gen(function*() {
    const maxLength = options?.maxLength ?? 4096
    const chunks: Array<Uint8Array> = []
    let size = 0
    while (true) {
      const chunk = yield* transport.read
      if (Option.isNone(chunk)) {
        if (size > 0) yield* transport.unread(concat(chunks))
        return Option.none()
      }
      const lf = chunk.value.indexOf(10)
      if (lf >= 0) {
        const rest = chunk.value.subarray(lf + 1)
        if (rest.length > 0) yield* transport.unread(rest)
        chunks.push(chunk.value.subarray(0, lf))
        const line = concat(chunks)
        const end = line.length > 0 && line[line.length - 1] === 13 ? line.length - 1 : line.length
        return Option.some(new TextDecoder("utf-8", { fatal: false }).decode(line.subarray(0, end)))
      }
      chunks.push(chunk.value)
      size += chunk.value.length
      if (size > maxLength) {
        return yield* new StartTlsError({
          reason: "LineTooLong",
          bytes: size,
          detail: `no line end within ${maxLength} bytes`
        })
      }
    }
  })
