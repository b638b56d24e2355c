/**
 * The errors of `@effect-tls/x509`, in a leaf module so that every other module (public or
 * internal) can use them without an import cycle.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * A certificate, CRL, name or key that cannot be read.
 *
 * @since 0.1.0
 * @category errors
 */
export class CertificateError extends Data.TaggedError("CertificateError")<{
  /** `KeyMismatch`: a private key paired with a certificate whose public key is not its own. */
  readonly reason: "InvalidPem" | "InvalidDer" | "Unsupported" | "NotFound" | "KeyMismatch"
  readonly detail: string
  readonly cause?: unknown
}> {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `certificate ${this.reason}: ${this.detail}`
  }
}

/**
 * An encrypted private key whose password is missing or wrong.
 *
 * @since 0.1.0
 * @category errors
 */
export class PrivateKeyPasswordError extends Data.TaggedError("PrivateKeyPasswordError")<{
  readonly reason: "Missing" | "Wrong"
  readonly detail: string
}> {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return this.detail
  }
}
