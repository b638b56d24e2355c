/**
 * Channel binding, Gio's `g_tls_connection_get_channel_binding_data`: bytes that name one TLS
 * connection, so that an authentication run inside it (SCRAM-PLUS, GSS-API, HTTP token
 * binding, ...) can prove it happened over this very connection and not through a
 * man-in-the-middle. `conn.channelBinding(type)` runs the handshake first (like `read`), and
 * both ends of a connection compute the same bytes.
 *
 * - `"tls-unique"` (RFC 5929 §3): the first Finished message of the most recent handshake: the
 *   client's in a full handshake, the server's in a resumed one. TLS ≤ 1.2 only: TLS 1.3
 *   does not define it (RFC 8446 §C.5), asking for it there fails with `NotSupported`.
 * - `"tls-server-end-point"` (RFC 5929 §4): a hash of the server's certificate (its leaf, as
 *   sent): the hash of the certificate's signature algorithm, SHA-256 when that is MD5 or SHA-1.
 *   As GnuTLS and OpenSSL do: Ed25519 (which signs with SHA-512 inside) uses SHA-512 and RSA-PSS
 *   the hash of its parameters. Ed448 (SHAKE256) and SHA-224 are `NotImplemented` (WebCrypto has
 *   neither); algorithms with no single hash are `NotSupported` (RFC 5929 leaves them
 *   undefined). It names the server, not the connection: every connection to a server with
 *   the same certificate has the same value.
 * - `"tls-exporter"` (RFC 9266): 32 bytes of the keying material exporter with the label
 *   `EXPORTER-Channel-Binding` and a zero-length context (as GnuTLS; on TLS 1.2 a zero-length
 *   context differs from no context). TLS 1.3, and TLS 1.2 only when the extended master
 *   secret (RFC 7627) was negotiated: RFC 9266 §4.2 forbids it otherwise, so that case fails
 *   with `NotSupported`, as GnuTLS does (OpenSSL would export it).
 *
 * The values come from the completed handshake: its failure (or interruption) fails
 * `channelBinding` with `InvalidState` and the handshake's `TlsError` as `cause`. A binding is
 * no secret, but a tls-unique or tls-exporter value should only be sent inside the connection
 * it names.
 *
 * @example
 * ```ts
 * import { TlsClient, type Transport } from "@effect-tls/core"
 * import { Effect } from "effect"
 *
 * declare const transport: Transport.Transport
 *
 * const program = Effect.gen(function*() {
 *   const tls = yield* TlsClient.connect(transport, { serverIdentity: "mail.example.com" })
 *   // SCRAM-SHA-256-PLUS: the binding goes into the client-final-message
 *   const cbind = yield* tls.channelBinding("tls-exporter")
 *   return cbind
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import type { Certificate } from "./Certificate.js"
import * as CertificateModule from "./Certificate.js"
import * as WebCrypto from "./internal/webcrypto.js"

/**
 * The channel binding types of RFC 5929 and RFC 9266.
 *
 * @since 0.1.0
 * @category models
 */
export type ChannelBindingType = "tls-unique" | "tls-server-end-point" | "tls-exporter"

/**
 * Every `ChannelBindingType`.
 *
 * @since 0.1.0
 * @category models
 */
export const types: ReadonlyArray<ChannelBindingType> = ["tls-unique", "tls-server-end-point", "tls-exporter"]

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-tls/core/ChannelBinding/ChannelBindingError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why no binding was given; Gio's `GTlsChannelBindingError` codes:
 *
 * - `InvalidState`: the handshake failed or was interrupted (its `TlsError` is the `cause`);
 * - `NotSupported`: the type does not exist on this connection (tls-unique on TLS 1.3,
 *   tls-exporter on TLS 1.2 without extended master secret, a server certificate without a
 *   single-hash signature algorithm, no server certificate at all);
 * - `NotAvailable`: the handshake completed, but the engine could not give the data (for
 *   instance the keying material of a connection already closed);
 * - `NotImplemented`: the engine does not report what the type needs, or the hash is one
 *   WebCrypto lacks;
 * - `GeneralError`: anything else (an unreadable certificate, a failing digest).
 *
 * @since 0.1.0
 * @category models
 */
export type Reason = "InvalidState" | "NotSupported" | "NotAvailable" | "NotImplemented" | "GeneralError"

/**
 * @since 0.1.0
 * @category errors
 */
export class ChannelBindingError extends Data.TaggedError("ChannelBindingError")<{
  readonly reason: Reason
  readonly type: ChannelBindingType
  readonly detail: string
  readonly side?: "client" | "server" | undefined
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    const cause = this.cause instanceof Error || Predicate.hasProperty(this.cause, "message")
      ? `: ${String((this.cause as { message: unknown }).message)}`
      : ""
    return `${this.type} channel binding ${this.reason}${this.side ? ` (${this.side})` : ""}: ${this.detail}${cause}`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isChannelBindingError = (u: unknown): u is ChannelBindingError => Predicate.hasProperty(u, TypeId)

type Digest = "SHA-256" | "SHA-384" | "SHA-512"

/** The RFC 5929 §4.1 hash for `certificate`, or why there is none. */
const endPointDigest = (
  certificate: Certificate
): Digest | { readonly reason: Reason; readonly detail: string } => {
  // Ed25519 hashes with SHA-512 inside: GnuTLS and OpenSSL (X509_digest_sig) use SHA-512
  if (certificate.signatureAlgorithm === "Ed25519") return "SHA-512"
  if (certificate.signatureAlgorithm === "Ed448") {
    return { reason: "NotImplemented", detail: "Ed448 certificates need SHAKE256, which WebCrypto lacks" }
  }
  const hash = CertificateModule.signatureHash(certificate)
  if (hash === undefined) {
    return {
      reason: "NotSupported",
      detail: `no single hash for the signature algorithm ${certificate.signatureAlgorithm}`
    }
  }
  switch (hash) {
    case "MD5":
    case "SHA-1":
    case "SHA-256":
      return "SHA-256"
    case "SHA-384":
    case "SHA-512":
      return hash
    default:
      return { reason: "NotImplemented", detail: `${hash} is not available in WebCrypto` }
  }
}

/**
 * The `tls-server-end-point` binding (RFC 5929 §4) of a server certificate: its DER hashed with
 * the hash of its signature algorithm, SHA-256 for MD5 and SHA-1, SHA-512 for Ed25519.
 * `conn.channelBinding("tls-server-end-point")` applies it to the server's leaf; use it to
 * know a server's value in advance.
 *
 * @since 0.1.0
 * @category constructors
 */
export const serverEndPoint = (certificate: Certificate): Effect.Effect<Uint8Array, ChannelBindingError> =>
  Effect.suspend(() => {
    let digest: ReturnType<typeof endPointDigest>
    try {
      digest = endPointDigest(certificate)
    } catch (cause) {
      digest = { reason: "GeneralError", detail: `unreadable certificate (${String(cause)})` }
    }
    if (typeof digest !== "string") {
      return Effect.fail(new ChannelBindingError({ ...digest, type: "tls-server-end-point" }))
    }
    return Effect.tryPromise({
      try: () => WebCrypto.subtle().digest(digest, certificate.der.slice()),
      catch: (cause) =>
        new ChannelBindingError({
          reason: "GeneralError",
          type: "tls-server-end-point",
          detail: `${digest} digest failed`,
          cause
        })
    }).pipe(Effect.map((hash) => new Uint8Array(hash)))
  })
