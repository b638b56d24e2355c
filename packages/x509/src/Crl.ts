/**
 * Certificate revocation lists (RFC 5280 section 5), consulted by `Verifier` to flag
 * revoked certificates (`CertificateFlags` `Revoked`).
 *
 * @example
 * ```ts
 * import { Certificate, Crl, Verifier } from "@effect-tls/x509"
 * import { Effect } from "effect"
 *
 * declare const crlPem: string
 * declare const caPem: string
 *
 * const verifier = Effect.gen(function*() {
 *   const crls = yield* Crl.fromPem(crlPem)
 *   const anchors = yield* Certificate.fromPem(caPem)
 *   return Verifier.make({ anchors, crls })
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { DistinguishedName } from "./Certificate.js"
import * as internal from "./internal/crl.js"
import * as Pem from "./internal/pem.js"
import { CertificateError } from "./X509Error.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-tls/core/Crl")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A parsed CRL. Its signature is checked against the issuer found during verification.
 *
 * @since 0.1.0
 * @category models
 */
export interface Crl {
  readonly [TypeId]: TypeId
  readonly der: Uint8Array
  readonly issuer: DistinguishedName
  readonly thisUpdate: Date
  readonly nextUpdate: Date | undefined
  /** Revoked serial numbers, lower-case hex as in `Certificate.serialNumber`. */
  readonly revokedSerials: ReadonlySet<string>
}

const ParsedId = Symbol.for("@effect-tls/core/Crl/parsed")

/** @internal */
export const parsed = (self: Crl): internal.ParsedCrl =>
  (self as unknown as { readonly [ParsedId]: internal.ParsedCrl })[ParsedId]

/** @internal */
export const unsafeFromDer = (der: Uint8Array): Crl => {
  const crl = internal.parseCrl(der)
  return Object.freeze({
    [TypeId]: TypeId,
    [ParsedId]: crl,
    der: crl.der,
    issuer: { der: crl.issuer.der, text: crl.issuer.text, attributes: crl.issuer.attributes },
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate,
    revokedSerials: crl.revoked
  }) as Crl
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const fromDer = (der: Uint8Array): Effect.Effect<Crl, CertificateError> =>
  Effect.try({
    try: () => unsafeFromDer(der),
    catch: (cause) =>
      new CertificateError({
        reason: "InvalidDer",
        detail: `not a CRL: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause
      })
  })

/**
 * Every `X509 CRL` block of a PEM text.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromPem = (pem: string): Effect.Effect<ReadonlyArray<Crl>, CertificateError> =>
  Pem.readBlocks(pem, "X509 CRL", fromDer)

/**
 * @since 0.1.0
 * @category guards
 */
export const isCrl = (u: unknown): u is Crl => typeof u === "object" && u !== null && TypeId in u

/**
 * The CRLs given to a verifier, read: `readable` holds the `Crl`s as they are and the DER ones
 * parsed once, `unreadable` every DER that is no CRL, with the error `fromDer` gives for it.
 * Nothing is dropped: a CRL the caller gave may revoke any certificate, so `Verifier.make`
 * fails every verification (`GenericError`, code `Revocation`) while it holds one it cannot
 * read.
 *
 * @since 0.1.0
 * @category models
 */
export interface Partitioned {
  readonly readable: Array<Crl>
  readonly unreadable: Array<Unreadable>
}

/**
 * A DER given as a CRL that cannot be read; `index` is its position in the list given.
 *
 * @since 0.1.0
 * @category models
 */
export interface Unreadable {
  readonly index: number
  readonly der: Uint8Array
  readonly error: CertificateError
}

const unreadableError = (index: number, cause: unknown) =>
  new CertificateError({
    reason: "InvalidDer",
    detail: `CRL ${index} is not a CRL: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause
  })

/**
 * Reads `crls` (`Crl`s as they are, DER parsed once) into the readable and the unreadable ones.
 *
 * @since 0.1.0
 * @category constructors
 */
export const partition = (crls: ReadonlyArray<Crl | Uint8Array>): Partitioned => {
  const readable: Array<Crl> = []
  const unreadable: Array<Unreadable> = []
  crls.forEach((crl, index) => {
    if (isCrl(crl)) readable.push(crl)
    else {
      try {
        readable.push(unsafeFromDer(crl))
      } catch (cause) {
        unreadable.push({ index, der: crl, error: unreadableError(index, cause) })
      }
    }
  })
  return { readable, unreadable }
}

/**
 * Every CRL of `crls` read (`Crl`s as they are, DER parsed once), or a `CertificateError`
 * naming the first DER that is no CRL.
 *
 * @since 0.1.0
 * @category constructors
 */
export const readAll = (crls: ReadonlyArray<Crl | Uint8Array>): Effect.Effect<Array<Crl>, CertificateError> =>
  Effect.suspend(() => {
    const { readable, unreadable } = partition(crls)
    return unreadable.length > 0 ? Effect.fail(unreadable[0].error) : Effect.succeed(readable)
  })
