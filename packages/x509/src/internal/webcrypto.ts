/**
 * What `@effect-tls/x509` (and, through `WebCrypto`, core) needs of the web platform, typed here instead of through the DOM lib, so that
 * the published declarations stand alone (a consumer compiles with `lib: ["ES2022"]` and no
 * DOM): WebCrypto's `SubtleCrypto` (the subset core calls), the WHATWG text codecs and
 * base64. Every runtime core supports (Node ≥ 20, Bun, Deno, browsers, workers) has them as
 * globals; they are read from `globalThis`, `crypto` lazily.
 *
 * Add a member here when x509 starts calling one more WebCrypto method.
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

/** @internal */
export type KeyUsage = "decrypt" | "deriveBits" | "deriveKey" | "encrypt" | "sign" | "unwrapKey" | "verify" | "wrapKey"

/** An opaque key handle. @internal */
export interface CryptoKey {
  readonly type: string
  readonly extractable: boolean
  readonly algorithm: Algorithm
  readonly usages: ReadonlyArray<KeyUsage>
}

/** @internal */
export interface RsaHashedImportParams extends Algorithm {
  readonly hash: AlgorithmIdentifier
}

/** @internal */
export interface EcKeyImportParams extends Algorithm {
  readonly namedCurve: string
}

/** @internal */
export interface RsaPssParams extends Algorithm {
  readonly saltLength: number
}

/** @internal */
export interface EcdsaParams extends Algorithm {
  readonly hash: AlgorithmIdentifier
}

/** @internal */
export interface Pbkdf2Params extends Algorithm {
  readonly salt: BufferSource
  readonly iterations: number
  readonly hash: AlgorithmIdentifier
}

/** @internal */
export interface AesCbcParams extends Algorithm {
  readonly iv: BufferSource
}

/** The members of a JWK core compares. @internal */
export interface JsonWebKey {
  readonly kty?: string
  readonly crv?: string
  readonly n?: string
  readonly e?: string
  readonly x?: string
  readonly y?: string
}

/** @internal */
export type ImportParams = AlgorithmIdentifier | RsaHashedImportParams | EcKeyImportParams

/** The subset of WebCrypto's `SubtleCrypto` core uses. @internal */
export interface SubtleCrypto {
  digest(algorithm: AlgorithmIdentifier, data: BufferSource): Promise<ArrayBuffer>
  importKey(
    format: "raw" | "spki" | "pkcs8",
    keyData: BufferSource,
    algorithm: ImportParams,
    extractable: boolean,
    keyUsages: ReadonlyArray<KeyUsage>
  ): Promise<CryptoKey>
  exportKey(format: "jwk", key: CryptoKey): Promise<JsonWebKey>
  verify(
    algorithm: AlgorithmIdentifier | RsaPssParams | EcdsaParams,
    key: CryptoKey,
    signature: BufferSource,
    data: BufferSource
  ): Promise<boolean>
  deriveBits(algorithm: Pbkdf2Params, baseKey: CryptoKey, length: number): Promise<ArrayBuffer>
  decrypt(algorithm: AesCbcParams, key: CryptoKey, data: BufferSource): Promise<ArrayBuffer>
}

interface WebGlobals {
  readonly crypto?: { readonly subtle?: SubtleCrypto }
  readonly TextEncoder: new() => { encode(input?: string): Uint8Array<ArrayBuffer> }
  readonly TextDecoder: new(label?: string, options?: { readonly fatal?: boolean }) => {
    decode(input?: BufferSource): string
  }
  readonly atob: (data: string) => string
  readonly btoa: (data: string) => string
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

/** @internal */
export const atob = (data: string): string => web.atob(data)

/** @internal */
export const btoa = (data: string): string => web.btoa(data)
