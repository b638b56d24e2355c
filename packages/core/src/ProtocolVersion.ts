/**
 * TLS protocol versions. effect-tls never goes below TLS 1.2 unless `minVersion`
 * says so explicitly.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category models
 */
export type ProtocolVersion = "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3"

/**
 * @since 0.1.0
 * @category constants
 */
export const all: ReadonlyArray<ProtocolVersion> = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]

/**
 * The default minimum version.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMinimum: ProtocolVersion = "TLSv1.2"

/**
 * @since 0.1.0
 * @category guards
 */
export const isProtocolVersion = (u: unknown): u is ProtocolVersion =>
  typeof u === "string" && (all as ReadonlyArray<string>).includes(u)

/**
 * Compares two versions: negative when `self` is older than `that`.
 *
 * @since 0.1.0
 * @category ordering
 */
export const compare = (self: ProtocolVersion, that: ProtocolVersion): number => all.indexOf(self) - all.indexOf(that)
