/**
 * Credentials that change at run time: a server's certificate and key (`Credentials`) and a
 * client's trust anchors (`Trust`), each held in a `SubscriptionRef`. Give one where a
 * `CertifiedKey` (`ServerOptions.certificate`) or a database (`database`) is expected: every
 * new handshake reads the current value, while live connections keep the ones they started
 * with. `update` validates a replacement first (the key matches the leaf, the leaf is valid at
 * the `Clock`'s now) and refuses a bad one with `CredentialsError`, keeping the old in place.
 *
 * Go's counterpart is `tls.Config.GetCertificate` / `GetConfigForClient` returning the newest
 * certificate; Node's is `server.setSecureContext()`.
 *
 * @example
 * ```ts
 * import { CertifiedKey, Credentials, TlsServer } from "@effect-tls/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const credentials = yield* Credentials.make(yield* CertifiedKey.fromPem(certPem, keyPem))
 *   // serve with `{ certificate: credentials }` ... later, on renewal:
 *   yield* credentials.update(yield* CertifiedKey.fromPem(newCertPem, newKeyPem))
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import type * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as CertifiedKey from "./CertifiedKey.js"
import type { TlsDatabaseShape } from "./TlsDatabase.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-tls/core/Credentials")

/**
 * @since 0.1.0
 * @category type ids
 */
export const TrustTypeId: unique symbol = Symbol.for("@effect-tls/core/Credentials/Trust")

/**
 * Why a replacement was refused.
 *
 * @since 0.1.0
 * @category errors
 */
export class CredentialsError extends Data.TaggedError("CredentialsError")<{
  readonly reason: "EmptyChain" | "KeyMismatch" | "NotYetValid" | "Expired" | "NoAnchors"
  readonly detail: string
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  override get message(): string {
    return `credentials refused (${this.reason}): ${this.detail}`
  }
}

/**
 * A server's certificate and key that can be replaced while it serves.
 *
 * @since 0.1.0
 * @category models
 */
export interface Credentials {
  readonly [TypeId]: typeof TypeId
  /** The current value (what the next handshake uses). */
  readonly get: Effect.Effect<CertifiedKey.CertifiedKey>
  /** Validates and installs a replacement; a refused one leaves the current in place. */
  readonly update: (next: CertifiedKey.CertifiedKey) => Effect.Effect<void, CredentialsError>
  /** The current value, then every replacement. */
  readonly changes: Stream.Stream<CertifiedKey.CertifiedKey>
  readonly ref: SubscriptionRef.SubscriptionRef<CertifiedKey.CertifiedKey>
}

/**
 * A client's trust anchors that can be replaced while it connects.
 *
 * @since 0.1.0
 * @category models
 */
export interface Trust {
  readonly [TrustTypeId]: typeof TrustTypeId
  readonly get: Effect.Effect<TlsDatabaseShape>
  /** Installs a replacement database; one without anchors is refused. */
  readonly update: (next: TlsDatabaseShape) => Effect.Effect<void, CredentialsError>
  readonly changes: Stream.Stream<TlsDatabaseShape>
  readonly ref: SubscriptionRef.SubscriptionRef<TlsDatabaseShape>
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isCredentials = (u: unknown): u is Credentials => Predicate.hasProperty(u, TypeId)

/**
 * @since 0.1.0
 * @category guards
 */
export const isTrust = (u: unknown): u is Trust => Predicate.hasProperty(u, TrustTypeId)

/**
 * Checks a certificate and key before use: a non-empty chain, a key that belongs to the leaf,
 * a leaf valid at the `Clock`'s now.
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = (key: CertifiedKey.CertifiedKey): Effect.Effect<CertifiedKey.CertifiedKey, CredentialsError> =>
  Effect.gen(function*() {
    const leaf = key.chain[0]
    if (leaf === undefined) {
      return yield* new CredentialsError({ reason: "EmptyChain", detail: "the certificate chain is empty" })
    }
    yield* Effect.mapError(
      CertifiedKey.validate(key.chain, key.key),
      (cause) =>
        new CredentialsError({
          reason: "KeyMismatch",
          detail: `the private key does not match ${leaf.subject.text}`,
          cause
        })
    )
    const now = yield* Clock.currentTimeMillis
    if (now < leaf.notBefore.getTime()) {
      return yield* new CredentialsError({
        reason: "NotYetValid",
        detail: `${leaf.subject.text} is valid from ${leaf.notBefore.toISOString()}`
      })
    }
    if (now > leaf.notAfter.getTime()) {
      return yield* new CredentialsError({
        reason: "Expired",
        detail: `${leaf.subject.text} expired at ${leaf.notAfter.toISOString()}`
      })
    }
    return key
  })

/**
 * Server credentials starting with `initial` (validated as `update` validates).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (initial: CertifiedKey.CertifiedKey): Effect.Effect<Credentials, CredentialsError> =>
  Effect.gen(function*() {
    const ref = yield* SubscriptionRef.make(yield* validate(initial))
    return {
      [TypeId]: TypeId,
      ref,
      get: SubscriptionRef.get(ref),
      update: (next) => Effect.flatMap(validate(next), (valid) => SubscriptionRef.set(ref, valid)),
      changes: ref.changes
    }
  })

/**
 * Client trust starting with `initial`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeTrust = (initial: TlsDatabaseShape): Effect.Effect<Trust, CredentialsError> =>
  Effect.gen(function*() {
    const check = (database: TlsDatabaseShape) =>
      database.anchors.length === 0
        ? Effect.fail(new CredentialsError({ reason: "NoAnchors", detail: "the database has no trust anchors" }))
        : Effect.succeed(database)
    const ref = yield* SubscriptionRef.make(yield* check(initial))
    return {
      [TrustTypeId]: TrustTypeId,
      ref,
      get: SubscriptionRef.get(ref),
      update: (next) => Effect.flatMap(check(next), (valid) => SubscriptionRef.set(ref, valid)),
      changes: ref.changes
    }
  })
