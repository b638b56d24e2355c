/**
 * The problems found with a certificate chain, Gio's `GTlsCertificateFlags`.
 *
 * Unlike Gio, whose flags only promise "at least one" problem, effect-tls always
 * reports the **complete** set, so a policy that ignores a flag it understands
 * (say `Expired` for a test server) can never let another problem through.
 *
 * @example
 * ```ts
 * import { CertificateFlags } from "@effect-tls/x509"
 *
 * const flags = CertificateFlags.make("Expired", "BadIdentity")
 * CertificateFlags.has(flags, "Expired") // true
 * CertificateFlags.toArray(flags) // ["BadIdentity", "Expired"]
 * ```
 *
 * @since 0.1.0
 */

/**
 * One problem with a certificate chain.
 *
 * - `UnknownCa`: the chain does not lead to a trusted anchor (includes self-signed peers);
 * - `BadIdentity`: the certificate does not match the expected identity (host name or IP);
 * - `NotActivated`: a certificate's validity starts in the future;
 * - `Expired`: a certificate's validity has ended;
 * - `Revoked`: a certificate was revoked (CRL);
 * - `Insecure`: weak algorithm or key (MD5, SHA-1, RSA or DSA < 2048 bits) in the path or in a CRL
 *   relied upon;
 * - `GenericError`: anything else (malformed, bad constraints, wrong key usage, bad signature).
 *
 * @since 0.1.0
 * @category models
 */
export type CertificateFlag =
  | "UnknownCa"
  | "BadIdentity"
  | "NotActivated"
  | "Expired"
  | "Revoked"
  | "Insecure"
  | "GenericError"

/**
 * Every flag, in canonical order.
 *
 * @since 0.1.0
 * @category constants
 */
export const all: ReadonlyArray<CertificateFlag> = [
  "UnknownCa",
  "BadIdentity",
  "NotActivated",
  "Expired",
  "Revoked",
  "Insecure",
  "GenericError"
]

/**
 * A set of flags; empty means the chain verified.
 *
 * @since 0.1.0
 * @category models
 */
export type CertificateFlags = ReadonlySet<CertificateFlag>

/**
 * @since 0.1.0
 * @category constants
 */
export const empty: CertificateFlags = new Set()

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (...flags: ReadonlyArray<CertificateFlag>): CertificateFlags => new Set(flags)

/**
 * @since 0.1.0
 * @category predicates
 */
export const isEmpty = (self: CertificateFlags): boolean => self.size === 0

/**
 * @since 0.1.0
 * @category predicates
 */
export const has = (self: CertificateFlags, flag: CertificateFlag): boolean => self.has(flag)

/**
 * @since 0.1.0
 * @category combinators
 */
export const union = (self: CertificateFlags, that: Iterable<CertificateFlag>): CertificateFlags => {
  const out = new Set(self)
  for (const flag of that) out.add(flag)
  return out
}

/**
 * The flags of `self` that are not in `that`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const difference = (self: CertificateFlags, that: Iterable<CertificateFlag>): CertificateFlags => {
  const out = new Set(self)
  for (const flag of that) out.delete(flag)
  return out
}

/**
 * The flags in canonical order (the order of `all`).
 *
 * @since 0.1.0
 * @category conversions
 */
export const toArray = (self: CertificateFlags): Array<CertificateFlag> => all.filter((flag) => self.has(flag))

/**
 * `"none"` or the flags joined by `", "`.
 *
 * @since 0.1.0
 * @category conversions
 */
export const format = (self: CertificateFlags): string => self.size === 0 ? "none" : toArray(self).join(", ")
