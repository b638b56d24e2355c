/**
 * RFC 5280 certification path building and validation, usable without any TLS connection
 * (`@effect-tls/core`'s `TlsDatabase` builds on it).
 *
 * `verify` builds paths from the leaf through the peer's certificates and the verifier's
 * intermediates (any order, superfluous ones ignored) to the anchors, evaluates each one
 * against every rule and returns the **complete** set of `CertificateFlags` of the best
 * path, with the reasons and, on success, the path and its valid policy set (§6.1.6).
 *
 * @example
 * ```ts
 * import { Certificate, Verifier } from "@effect-tls/x509"
 * import { Effect } from "effect"
 *
 * declare const caPem: string
 * declare const serverPem: string
 *
 * const program = Effect.gen(function*() {
 *   const anchors = yield* Certificate.fromPem(caPem)
 *   const chain = yield* Certificate.fromPem(serverPem)
 *   const verifier = Verifier.make({ anchors })
 *   const result = yield* verifier.verify(chain, { purpose: "server", identity: "example.com" })
 *   console.log(result.flags.size === 0, result.validPolicySet)
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Certificate, CertificateChain } from "./Certificate.js"
import type { CertificateFlag, CertificateFlags } from "./CertificateFlags.js"
import * as Crl from "./Crl.js"
import { parsed } from "./internal/certificate.js"
import * as Signature from "./internal/signature.js"
import * as internal from "./internal/verify.js"

/**
 * What a chain is verified for: `"server"` checks a server's chain (serverAuth EKU and the
 * host-name rules), `"client"` a client's (clientAuth EKU).
 *
 * @since 0.1.0
 * @category models
 */
export type Purpose = "server" | "client"

/**
 * The bits of the keyUsage extension (RFC 5280 §4.2.1.3).
 *
 * @since 0.1.0
 * @category models
 */
export type KeyUsage =
  | "digitalSignature"
  | "nonRepudiation"
  | "keyEncipherment"
  | "dataEncipherment"
  | "keyAgreement"
  | "keyCertSign"
  | "cRLSign"
  | "encipherOnly"
  | "decipherOnly"

/**
 * The inputs of RFC 5280 §6.1.1 (c) to (f).
 *
 * @since 0.1.0
 * @category models
 */
export interface PolicyOptions {
  /** The user-initial-policy-set (policy OIDs); default `anyPolicy` (`2.5.29.32.0`). */
  readonly initialPolicySet?: ReadonlyArray<string> | undefined
  /** initial-explicit-policy: the path must be valid for at least one policy of the set. */
  readonly requireExplicitPolicy?: boolean | undefined
  /** initial-policy-mapping-inhibit. */
  readonly inhibitPolicyMapping?: boolean | undefined
  /** initial-any-policy-inhibit. */
  readonly inhibitAnyPolicy?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface VerifyOptions {
  readonly purpose: Purpose
  /**
   * Host name or IP address the leaf must match (RFC 6125); no check when absent. A path
   * checked for an identity is a TLS server's and is also held to the Web PKI's issuance
   * rules where RFC 5280 only tells CAs what they MUST do (a critical policyConstraints) and
   * to its algorithms (no DSA: TLS 1.3 has none, CA/B Forum BR 6.1.5).
   */
  readonly identity?: string | undefined
  /** An e-mail address the leaf must name (rfc822Name SAN, or the subject's emailAddress without SAN). */
  readonly email?: string | undefined
  /** Verification time; defaults to the `Clock`'s now. */
  readonly time?: Date | undefined
  /** Bits the leaf's keyUsage must assert (a leaf without keyUsage allows every use). */
  readonly keyUsage?: ReadonlyArray<KeyUsage> | undefined
  /**
   * The extended key usages (OIDs) the leaf and every CA that restricts them must allow,
   * instead of the purpose's serverAuth / clientAuth; `"any"` requires none ("any purpose").
   */
  readonly extendedKeyUsage?: ReadonlyArray<string> | "any" | undefined
  /** Certificate policy processing (RFC 5280 §6.1); default: any policy, nothing required. */
  readonly policy?: PolicyOptions | undefined
  /**
   * Revocation checking (RFC 5280 §6.3) of every certificate below the trust anchor, against
   * the CRLs given to `make`.
   *
   * - `"required"`: a certificate whose status no usable CRL determines (current, in scope,
   *   every reason covered, verified signer) is not valid (`GenericError`, code `Revocation`).
   * - `"ifAvailable"` (default): the same, but only when revocation information for the
   *   certificate is available, as rustls-webpki's `UnknownStatusPolicy::Allow` with its
   *   `ExpirationPolicy::Enforce`. It is available when a CRL given is issued by the
   *   certificate's issuer (same name, or the same key: its authorityKeyIdentifier is the
   *   issuer's), or by a cRLIssuer of its cRLDistributionPoints, or is an indirect CRL with an
   *   entry naming its issuer, or its issuingDistributionPoint names one of the certificate's
   *   distribution points. Such a CRL that cannot determine the status (past nextUpdate, out of
   *   scope, reasons not all covered, only a delta, bad signature or signer) fails the
   *   certificate closed; a certificate for whose issuer no CRL at all was given passes.
   *   Stricter than webpki, which ignores an out-of-scope CRL of the issuer (not
   *   "authoritative"): here the issuer is known to partition its CRLs and the partition of
   *   the certificate is missing.
   *
   * In both modes a revoked certificate is `Revoked`, and a CRL given that cannot be read fails
   * every verification.
   */
  readonly revocation?: "ifAvailable" | "required" | undefined
}

/**
 * Why a flag was raised. `code` is for programs; `detail` for people.
 *
 * - `UnsupportedAlgorithm`: a signature this runtime cannot check (MD2/MD5, RSA or ECDSA
 *   with SHA-224, explicit or unsupported curves, a DSA key whose parameters can be found
 *   neither in it nor up the path); `algorithm` names it. DSA itself is checked (in BigInt
 *   arithmetic, WebCrypto has none), keys without parameters taking their issuer's
 *   (RFC 3279 §2.3.2).
 *
 * @since 0.1.0
 * @category models
 */
export interface Reason {
  readonly flag: CertificateFlag
  readonly code:
    | "NoPath"
    | "Validity"
    | "Identity"
    | "Signature"
    | "UnsupportedAlgorithm"
    | "Weak"
    | "Constraints"
    | "NameConstraints"
    | "KeyUsage"
    | "ExtendedKeyUsage"
    | "Policy"
    | "Revoked"
    | "Revocation"
    | "Malformed"
  /** The position in the path (0 = leaf), when one certificate is concerned. */
  readonly certificate?: number | undefined
  /** For `UnsupportedAlgorithm`: e.g. `"RSA"`, `"DSA"`. */
  readonly algorithm?: string | undefined
  readonly detail: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface VerifyResult {
  /** Every problem of the best path; empty means valid. */
  readonly flags: CertificateFlags
  readonly reasons: ReadonlyArray<Reason>
  /** The validated path, leaf first, anchor last (when `flags` is empty). */
  readonly path: ReadonlyArray<Certificate> | undefined
  /**
   * The valid policy set of a valid path (§6.1.6): the policy OIDs of the valid_policy_tree
   * that are in the user-initial-policy-set (or every one of them, including `2.5.29.32.0`
   * anyPolicy, when that set is anyPolicy); empty when the tree is NULL.
   */
  readonly validPolicySet: ReadonlyArray<string> | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface VerifierOptions {
  readonly anchors: ReadonlyArray<Certificate>
  /** Intermediates (and CRL signers) the verifier knows, used to complete peers' chains. */
  readonly intermediates?: ReadonlyArray<Certificate> | undefined
  /**
   * CRLs (parsed, or DER). A DER that is no CRL is never ignored: while the verifier holds
   * one, every verification fails (`GenericError`, code `Revocation`), since it may revoke
   * any certificate. `Crl.readAll` reads a list up front with a typed error instead.
   */
  readonly crls?: ReadonlyArray<Crl.Crl | Uint8Array> | undefined
  /** The maximum number of intermediates in a path (self-issued ones not counted). */
  readonly maxIntermediates?: number | undefined
  /**
   * Trust anchors are checked like the other CA certificates (critical basicConstraints,
   * subjectKeyIdentifier) unless this is `true`: a platform store with legacy roots.
   */
  readonly lenientAnchors?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Verifier {
  readonly anchors: ReadonlyArray<Certificate>
  readonly verify: (chain: CertificateChain, options: VerifyOptions) => Effect.Effect<VerifyResult>
  /** The issuer of `certificate` among the anchors and intermediates (its signature checked). */
  readonly lookupIssuer: (certificate: Certificate) => Effect.Effect<Option.Option<Certificate>>
}

/**
 * A verifier trusting `options.anchors`. Anchors are parsed and indexed once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: VerifierOptions): Verifier => {
  const crls = Crl.partition(options.crls ?? [])
  const store = internal.makeStore(
    options.anchors,
    options.intermediates ?? [],
    crls.readable.map(Crl.parsed),
    options.maxIntermediates,
    options.lenientAnchors ?? false,
    crls.unreadable.map((u) => u.error.detail)
  )
  const lookupIssuer = (certificate: Certificate): Effect.Effect<Option.Option<Certificate>> =>
    Effect.promise(async () => {
      const child = parsed(certificate).x509
      const candidates = [
        ...(store.anchorsBySubject.get(child.issuer.key) ?? []),
        ...(store.intermediatesBySubject.get(child.issuer.key) ?? [])
      ]
      for (const candidate of candidates) {
        const outcome = await Signature.verify(parsed(candidate), child.signatureAlgorithm, child.tbs, child.signature)
        if (outcome._tag === "Valid") return Option.some(candidate)
      }
      return Option.none()
    })
  return {
    anchors: options.anchors,
    verify: (chain, verifyOptions) =>
      Effect.flatMap(
        verifyOptions.time === undefined ? Clock.currentTimeMillis : Effect.succeed(verifyOptions.time.getTime()),
        (time) => Effect.promise(() => internal.verifyChain(store, chain, { ...verifyOptions, time }))
      ),
    lookupIssuer
  }
}

/**
 * `verify`, the flags only.
 *
 * @since 0.1.0
 * @category combinators
 */
export const verifyFlags = (
  self: Verifier,
  chain: CertificateChain,
  options: VerifyOptions
): Effect.Effect<CertificateFlags> => Effect.map(self.verify(chain, options), (result) => result.flags)
