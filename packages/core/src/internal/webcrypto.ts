/**
 * What core needs of the web platform (WebCrypto's `subtle.digest` for channel binding, the
 * WHATWG text codecs), typed without the DOM lib: `@effect-tls/x509`'s `WebCrypto`, the one
 * typed copy. Add a member there when core starts calling one more WebCrypto method.
 *
 * @internal
 */
export { subtle, TextDecoder, TextEncoder } from "@effect-tls/x509/WebCrypto"

/** @internal */
export type { AlgorithmIdentifier, BufferSource, SubtleCrypto } from "@effect-tls/x509/WebCrypto"
