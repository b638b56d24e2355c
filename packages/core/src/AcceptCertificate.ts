/**
 * `AcceptCertificate`, Gio's `accept-certificate` signal as a policy service: an Effect
 * that decides whether the peer's certificate is accepted, given the chain, the
 * **complete** verification flags, the expected identity and the side.
 *
 * The default, `strict`, accepts only when the flags are empty. The policy runs after the
 * handshake and before any application byte is read or written, on resumed sessions too.
 * It may do I/O (ask a user, consult a pin store); it is interruptible and bounded by the
 * connection's `policyTimeout`.
 *
 * @example
 * ```ts
 * import { AcceptCertificate, TlsClient, type Transport } from "@effect-tls/core"
 * import { Effect } from "effect"
 *
 * declare const transport: Transport.Transport
 *
 * // a test server with an expired certificate we know by its key
 * const policy = AcceptCertificate.any(
 *   AcceptCertificate.strict,
 *   AcceptCertificate.pinSpki(["lJ2R...="])
 * )
 * const program = TlsClient.connect(transport, { serverIdentity: "test.local" }).pipe(
 *   Effect.provide(AcceptCertificate.layer(policy))
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type { CertificateChain } from "./Certificate.js"
import * as CertificateFlags from "./CertificateFlags.js"

/**
 * What the policy is given.
 *
 * @since 0.1.0
 * @category models
 */
export interface AcceptContext {
  /** The peer's chain, leaf first, as received. */
  readonly chain: CertificateChain
  /** The complete verification flags. */
  readonly flags: CertificateFlags.CertificateFlags
  /** The identity the chain was checked against (client side: the server identity). */
  readonly identity: Option.Option<string>
  /** Our side: `"client"` checks a server's certificate, `"server"` a client's. */
  readonly side: "client" | "server"
}

/**
 * A policy: `true` accepts.
 *
 * @since 0.1.0
 * @category models
 */
export type Policy = (context: AcceptContext) => Effect.Effect<boolean>

/**
 * Accepts only when the flags are empty: the chain leads to a trusted anchor, is valid now,
 * matches the identity, is not revoked and uses no weak algorithm.
 *
 * @since 0.1.0
 * @category policies
 */
export const strict: Policy = (context) => Effect.succeed(CertificateFlags.isEmpty(context.flags))

/**
 * The policy in use; defaults to `strict`.
 *
 * @since 0.1.0
 * @category tags
 */
export class AcceptCertificate extends Context.Reference<AcceptCertificate>()(
  "@effect-tls/core/AcceptCertificate",
  { defaultValue: (): Policy => strict }
) {}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (policy: Policy): Layer.Layer<never> => Layer.succeed(AcceptCertificate, policy)

/**
 * Runs `policy` as if the named flags were not there. Safe because flags are complete:
 * ignoring `Expired` cannot hide an `UnknownCa`. Replaces Gio's deprecated `validation-flags`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const ignoreFlags = (
  flags: Iterable<CertificateFlags.CertificateFlag>,
  policy: Policy = strict
): Policy => {
  const ignored = [...flags]
  return (context) => policy({ ...context, flags: CertificateFlags.difference(context.flags, ignored) })
}

const leafMatches = (
  context: AcceptContext,
  pins: ReadonlyArray<string>,
  field: "spkiSha256" | "fingerprintSha256"
) => {
  const leaf = context.chain[0]
  return leaf !== undefined && pins.includes(leaf[field])
}

const onlyUnknownCa = (flags: CertificateFlags.CertificateFlags) =>
  CertificateFlags.isEmpty(CertificateFlags.difference(flags, ["UnknownCa"]))

/**
 * Accepts a leaf whose SubjectPublicKeyInfo SHA-256 (base64, `Certificate.spkiSha256`) is
 * one of `pins`, whoever issued it: the pin replaces the CA, so `UnknownCa` is ignored, but
 * every other flag (identity, validity, revocation, weakness) still rejects.
 *
 * @since 0.1.0
 * @category policies
 */
export const pinSpki = (pins: ReadonlyArray<string>): Policy => (context) =>
  Effect.succeed(leafMatches(context, pins, "spkiSha256") && onlyUnknownCa(context.flags))

/**
 * Like `pinSpki`, by the SHA-256 fingerprint of the whole leaf (`Certificate.fingerprintSha256`, hex).
 *
 * @since 0.1.0
 * @category policies
 */
export const pinFingerprint = (fingerprints: ReadonlyArray<string>): Policy => {
  const normalized = fingerprints.map((f) => f.replace(/:/g, "").toLowerCase())
  return (context) =>
    Effect.succeed(leafMatches(context, normalized, "fingerprintSha256") && onlyUnknownCa(context.flags))
}

/**
 * Accepts when every policy accepts (stops at the first refusal).
 *
 * @since 0.1.0
 * @category combinators
 */
export const all = (...policies: ReadonlyArray<Policy>): Policy => (context) =>
  Effect.reduce(policies, true, (accepted, policy) => accepted ? policy(context) : Effect.succeed(false))

/**
 * Accepts when any policy accepts (stops at the first acceptance).
 *
 * @since 0.1.0
 * @category combinators
 */
export const any = (...policies: ReadonlyArray<Policy>): Policy => (context) =>
  Effect.reduce(policies, false, (accepted, policy) => accepted ? Effect.succeed(true) : policy(context))

/**
 * Accepts every certificate, whatever its flags. For tests against throw-away peers only:
 * it disables authentication and so all protection against an active attacker.
 *
 * @since 0.1.0
 * @category policies
 */
export const dangerouslyAcceptAny: Policy = () => Effect.succeed(true)

/**
 * Where trust-on-first-use remembers keys: identity → SPKI SHA-256.
 *
 * @since 0.1.0
 * @category models
 */
export interface TofuStore {
  readonly get: (identity: string) => Effect.Effect<Option.Option<string>>
  readonly set: (identity: string, spkiSha256: string) => Effect.Effect<void>
}

/**
 * A TOFU store in memory (for tests and short-lived programs).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemoryTofuStore: Effect.Effect<TofuStore> = Effect.map(
  Ref.make(new Map<string, string>()),
  (ref): TofuStore => ({
    get: (identity) => Effect.map(Ref.get(ref), (map) => Option.fromNullable(map.get(identity))),
    set: (identity, spki) => Ref.update(ref, (map) => new Map(map).set(identity, spki))
  })
)

/**
 * Trust on first use (as ssh does): the first time an identity is seen, its leaf key is
 * remembered and accepted if nothing but `UnknownCa` is wrong; afterwards only that key is
 * accepted for that identity. A chain without flags is always accepted (and not recorded).
 *
 * @since 0.1.0
 * @category policies
 */
export const trustOnFirstUse = (store: TofuStore): Policy => (context) =>
  Effect.gen(function*() {
    if (CertificateFlags.isEmpty(context.flags)) return true
    const leaf = context.chain[0]
    if (leaf === undefined || !onlyUnknownCa(context.flags)) return false
    const identity = Option.getOrElse(context.identity, () => "")
    const known = yield* store.get(identity)
    if (Option.isNone(known)) {
      yield* store.set(identity, leaf.spkiSha256)
      return true
    }
    return known.value === leaf.spkiSha256
  })
