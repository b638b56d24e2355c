/**
 * What core needs of the web platform, typed here instead of through the DOM lib, so that
 * the published declarations stand alone (a consumer compiles with `lib: ["ES2022"]` and no
 * DOM): WebCrypto's `subtle.digest` (for channel binding) and the WHATWG text codecs. Every
 * runtime core supports (Node ≥ 20, Bun, Deno, browsers, workers) has them as globals; they
 * are read from `globalThis`, `crypto` lazily. (`@effect-tls/x509` has its own, larger set.)
 *
 * Add a member here when core starts calling one more WebCrypto method.
 *
 * @internal
 */

/** @internal */
export type BufferSource = ArrayBuffer | ArrayBufferView

/** @internal */
export interface Algorithm {
  readonly name: string
}

/** @internal */
export type AlgorithmIdentifier = Algorithm | string

/** The subset of WebCrypto's `SubtleCrypto` core uses. @internal */
export interface SubtleCrypto {
  digest(algorithm: AlgorithmIdentifier, data: BufferSource): Promise<ArrayBuffer>
}

interface WebGlobals {
  readonly crypto?: { readonly subtle?: SubtleCrypto }
  readonly TextEncoder: new() => { encode(input?: string): Uint8Array<ArrayBuffer> }
  readonly TextDecoder: new(label?: string, options?: { readonly fatal?: boolean }) => {
    decode(input?: BufferSource): string
  }
}

const web = globalThis as unknown as WebGlobals

/**
 * The runtime's `crypto.subtle`. Throws (inside the promise-returning code that calls it)
 * when the runtime has no WebCrypto.
 *
 * @internal
 */
export const subtle = (): SubtleCrypto => {
  const value = web.crypto?.subtle
  if (value === undefined) throw new Error("WebCrypto (globalThis.crypto.subtle) is not available")
  return value
}

/** @internal */
export const TextEncoder = web.TextEncoder

/** @internal */
export const TextDecoder = web.TextDecoder
