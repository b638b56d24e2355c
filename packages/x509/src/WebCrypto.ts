/**
 * The web platform effect-tls calls, typed without the DOM lib so that published declarations
 * stand alone (a consumer compiles with `lib: ["ES2022"]`): WebCrypto's `subtle` (the subset
 * effect-tls uses) and the WHATWG text codecs, read from `globalThis` (`crypto` lazily). Every
 * supported runtime (Node ≥ 20, Bun, Deno, browsers, workers) has them. `@effect-tls/core`
 * uses these too, so there is one typed copy.
 *
 * @example
 * ```ts
 * import { WebCrypto } from "@effect-tls/x509"
 *
 * const hash = (bytes: Uint8Array) => WebCrypto.subtle().digest("SHA-256", bytes)
 * ```
 *
 * @since 0.1.0
 */
import * as internal from "./internal/webcrypto.js"

/**
 * @since 0.1.0
 * @category models
 */
export type BufferSource = internal.BufferSource

/**
 * @since 0.1.0
 * @category models
 */
export type AlgorithmIdentifier = internal.AlgorithmIdentifier

/**
 * The subset of WebCrypto's `SubtleCrypto` effect-tls uses.
 *
 * @since 0.1.0
 * @category models
 */
export type SubtleCrypto = internal.SubtleCrypto

/**
 * The runtime's `crypto.subtle`. Throws (inside the promise-returning code that calls it)
 * when the runtime has no WebCrypto.
 *
 * @since 0.1.0
 * @category accessors
 */
export const subtle: () => SubtleCrypto = internal.subtle

/**
 * The runtime's WHATWG `TextEncoder`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const TextEncoder: typeof internal.TextEncoder = internal.TextEncoder

/**
 * The runtime's WHATWG `TextDecoder`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const TextDecoder: typeof internal.TextDecoder = internal.TextDecoder
