/**
 * Signature verification with WebCrypto: RSA PKCS#1 v1.5, RSA-PSS, ECDSA (P-256/384/521)
 * and Ed25519; DSA (which WebCrypto lacks) in `dsa.ts`, over a WebCrypto digest.
 *
 * @internal
 */
import type { Parsed } from "./certificate.js"
import * as Der from "./der.js"
import * as Dsa from "./dsa.js"
import { curves, hashOids, OID } from "./oids.js"
import type { AlgorithmId } from "./parse.js"
import { sha224 } from "./sha2.js"
import * as WebCrypto from "./webcrypto.js"

/** @internal */
export type Outcome =
  | { readonly _tag: "Valid"; readonly weak: boolean }
  | { readonly _tag: "Invalid" }
  /**
   * The issuer's DSA key has no parameters: they are its own issuer's (RFC 3279 §2.3.2),
   * so the signature can only be checked once the path above the issuer is known.
   */
  | { readonly _tag: "NeedsParameters" }
  /** The algorithm or key cannot be checked here (MD5, P-192, SHA-224 with RSA, ...). */
  | {
    readonly _tag: "Unsupported"
    readonly weak: boolean
    readonly reason: string
    /** The algorithm family that cannot be checked, e.g. `"DSA"`. */
    readonly algorithm: string
  }

interface Plan {
  readonly kind: "RSASSA-PKCS1-v1_5" | "RSA-PSS" | "ECDSA" | "Ed25519" | "DSA"
  readonly hash: string | undefined
  readonly saltLength?: number
}

const rsaHashes: Record<string, string> = {
  "1.2.840.113549.1.1.5": "SHA-1",
  "1.2.840.113549.1.1.11": "SHA-256",
  "1.2.840.113549.1.1.12": "SHA-384",
  "1.2.840.113549.1.1.13": "SHA-512",
  "1.2.840.113549.1.1.14": "SHA-224",
  "1.2.840.113549.1.1.4": "MD5",
  "1.2.840.113549.1.1.2": "MD2"
}

const ecdsaHashes: Record<string, string> = {
  "1.2.840.10045.4.1": "SHA-1",
  "1.2.840.10045.4.3.1": "SHA-224",
  "1.2.840.10045.4.3.2": "SHA-256",
  "1.2.840.10045.4.3.3": "SHA-384",
  "1.2.840.10045.4.3.4": "SHA-512"
}

const isNullOrAbsent = (params: Uint8Array | undefined) =>
  params === undefined || (params.length === 2 && params[0] === Der.Tag.NULL && params[1] === 0)

const readHashAlg = (buf: Uint8Array, tlv: Der.Tlv): string => {
  const [oid, params] = Der.children(buf, Der.expect(tlv, Der.Tag.SEQUENCE, "hash AlgorithmIdentifier"))
  if (params !== undefined && params.tag !== Der.Tag.NULL) throw new Der.DerError("bad hash parameters")
  const name = hashOids[Der.readOid(buf, oid)]
  if (name === undefined) throw new Der.DerError("unknown hash")
  return name
}

const pssPlan = (params: Uint8Array | undefined): Plan | string => {
  if (params === undefined) return "RSA-PSS without parameters"
  const top = Der.readOnly(params, Der.Tag.SEQUENCE)
  let hash = "SHA-1"
  let mgfHash = "SHA-1"
  let saltLength = 20
  for (const field of Der.children(params, top)) {
    const [inner] = Der.children(params, field)
    switch (field.tag) {
      case 0xa0:
        hash = readHashAlg(params, inner)
        break
      case 0xa1: {
        const [mgfOid, mgfParams] = Der.children(params, Der.expect(inner, Der.Tag.SEQUENCE, "MGF"))
        if (Der.readOid(params, mgfOid) !== OID.mgf1) return "unsupported RSA-PSS mask generation"
        mgfHash = readHashAlg(params, mgfParams)
        break
      }
      case 0xa2:
        saltLength = Der.readSmallInt(params, inner)
        break
      case 0xa3:
        if (Der.readSmallInt(params, inner) !== 1) return "unsupported RSA-PSS trailer"
        break
      default:
        throw new Der.DerError("bad RSASSA-PSS-params")
    }
  }
  if (hash !== mgfHash) return "RSA-PSS with different hash and MGF1 hash"
  return { kind: "RSA-PSS", hash, saltLength }
}

const dsaHashes: Record<string, string> = {
  "1.2.840.10040.4.3": "SHA-1",
  "2.16.840.1.101.3.4.3.1": "SHA-224",
  "2.16.840.1.101.3.4.3.2": "SHA-256"
}

/** Whether `oid` is a DSA signature algorithm. @internal */
export const isDsa = (oid: string): boolean => dsaHashes[oid] !== undefined

/** The algorithm family of a signature algorithm, for reports. @internal */
export const family = (oid: string): string =>
  isDsa(oid)
    ? "DSA"
    : rsaHashes[oid] !== undefined
    ? "RSA"
    : ecdsaHashes[oid] !== undefined
    ? "ECDSA"
    : oid === OID.rsassaPss
    ? "RSA-PSS"
    : oid === OID.ed25519
    ? "Ed25519"
    : oid === OID.ed448
    ? "Ed448"
    : oid

/** How to check a signature of `alg`, or why it cannot be. @internal */
export const plan = (alg: AlgorithmId): Plan | string => {
  const rsaHash = rsaHashes[alg.oid]
  if (rsaHash !== undefined) {
    if (!isNullOrAbsent(alg.params)) return "RSA signature algorithm with parameters"
    return { kind: "RSASSA-PKCS1-v1_5", hash: rsaHash }
  }
  const ecHash = ecdsaHashes[alg.oid]
  if (ecHash !== undefined) {
    if (alg.params !== undefined) return "ECDSA signature algorithm with parameters"
    return { kind: "ECDSA", hash: ecHash }
  }
  if (alg.oid === OID.rsassaPss) return pssPlan(alg.params)
  const dsaHash = dsaHashes[alg.oid]
  if (dsaHash !== undefined) {
    // RFC 3279 2.2.2 / RFC 5758 3.1: the parameters MUST be absent
    if (alg.params !== undefined) return "DSA signature algorithm with parameters"
    return { kind: "DSA", hash: dsaHash }
  }
  if (alg.oid === OID.ed25519) {
    if (alg.params !== undefined) return "Ed25519 with parameters"
    return { kind: "Ed25519", hash: undefined }
  }
  return `unsupported signature algorithm ${alg.oid}`
}

/** @internal */
export const isWeakHash = (hash: string | undefined) => hash === "SHA-1" || hash === "MD5" || hash === "MD2"

const webCryptoHashes = new Set(["SHA-1", "SHA-256", "SHA-384", "SHA-512"])

const digest = async (hash: string, data: Uint8Array): Promise<Uint8Array> =>
  hash === "SHA-224"
    ? sha224(data)
    : new Uint8Array(await WebCrypto.subtle().digest(hash, Der.toArrayBuffer(data)))

/**
 * A DSA signature: the issuer's key with its own parameters, or with `inherited` ones when
 * it has none (RFC 3279 §2.3.2).
 */
const verifyDsa = async (
  issuer: Parsed,
  hash: string,
  data: Uint8Array,
  signature: Uint8Array,
  inherited: Uint8Array | undefined
): Promise<Outcome> => {
  const x = issuer.x509
  if (x.spkiAlgorithm.oid !== OID.dsa) return { _tag: "Invalid" }
  const encoded = x.spkiAlgorithm.params ?? inherited
  if (encoded === undefined) return { _tag: "NeedsParameters" }
  let params: Dsa.Params
  let y: bigint
  try {
    params = Dsa.readParams(encoded)
    y = Dsa.readPublicKey(x.publicKeyBits, params)
  } catch {
    return { _tag: "Invalid" }
  }
  const ok = Dsa.verify(params, y, await digest(hash, data), signature)
  return ok ? { _tag: "Valid", weak: isWeakHash(hash) } : { _tag: "Invalid" }
}

const rsaSpki = (issuer: Parsed): Uint8Array =>
  issuer.x509.spkiAlgorithm.oid === OID.rsaEncryption
    ? issuer.x509.spki
    : Der.encode(
      Der.Tag.SEQUENCE,
      Der.encode(Der.Tag.SEQUENCE, Der.encodeOid(OID.rsaEncryption), Der.encode(Der.Tag.NULL)),
      Der.encode(Der.Tag.BIT_STRING, new Uint8Array([0]), issuer.x509.publicKeyBits)
    )

const importKey = (issuer: Parsed, p: Plan): Promise<WebCrypto.CryptoKey> | string => {
  const x = issuer.x509
  const cacheKey = `${p.kind}/${p.hash ?? ""}`
  const cached = issuer.keys.get(cacheKey)
  if (cached !== undefined) return cached
  let promise: Promise<WebCrypto.CryptoKey>
  const subtle = WebCrypto.subtle()
  switch (p.kind) {
    case "RSASSA-PKCS1-v1_5":
    case "RSA-PSS": {
      if (x.spkiAlgorithm.oid !== OID.rsaEncryption && x.spkiAlgorithm.oid !== OID.rsassaPss) return "key type mismatch"
      promise = subtle.importKey("spki", Der.toArrayBuffer(rsaSpki(issuer)), { name: p.kind, hash: p.hash! }, false, [
        "verify"
      ])
      break
    }
    case "ECDSA": {
      if (x.spkiAlgorithm.oid !== OID.ecPublicKey) return "key type mismatch"
      const curve = x.publicKey.curve
      if (curve !== "P-256" && curve !== "P-384" && curve !== "P-521") {
        return `unsupported curve ${curve ?? "(explicit)"}`
      }
      promise = subtle.importKey("spki", Der.toArrayBuffer(x.spki), { name: "ECDSA", namedCurve: curve }, false, [
        "verify"
      ])
      break
    }
    case "DSA":
      return "key type mismatch"
    case "Ed25519": {
      if (x.spkiAlgorithm.oid !== OID.ed25519) return "key type mismatch"
      promise = subtle.importKey("spki", Der.toArrayBuffer(x.spki), { name: "Ed25519" }, false, ["verify"])
      break
    }
  }
  issuer.keys.set(cacheKey, promise)
  return promise
}

const ecdsaRaw = (der: Uint8Array, size: number): Uint8Array | undefined => {
  try {
    const top = Der.readOnly(der, Der.Tag.SEQUENCE)
    const parts = Der.children(der, top)
    if (parts.length !== 2) return undefined
    const out = new Uint8Array(size * 2)
    for (let i = 0; i < 2; i++) {
      let v = Der.value(der, Der.expect(parts[i], Der.Tag.INTEGER, "INTEGER"))
      if (v.length === 0 || (v[0] & 0x80) !== 0) return undefined
      if (v.length > 1 && v[0] === 0 && (v[1] & 0x80) === 0) return undefined
      while (v.length > 0 && v[0] === 0) v = v.subarray(1)
      if (v.length > size) return undefined
      out.set(v, i * size + size - v.length)
    }
    return out
  } catch {
    return undefined
  }
}

/**
 * Verifies `signature` over `data` made with `alg` by `issuer`'s key. Never rejects.
 * `inheritedDsaParameters`: the DSA parameters an issuer key without its own takes from
 * up the path (`NeedsParameters` when it has none and none are given).
 *
 * @internal
 */
export const verify = async (
  issuer: Parsed,
  alg: AlgorithmId,
  data: Uint8Array,
  signature: Uint8Array,
  inheritedDsaParameters?: Uint8Array
): Promise<Outcome> => {
  let p: Plan | string
  try {
    p = plan(alg)
  } catch {
    return { _tag: "Invalid" }
  }
  if (typeof p === "string") {
    const weak = /1\.2\.840\.113549\.1\.1\.[24]$/.test(alg.oid) || alg.oid === "1.2.840.10040.4.3"
    return { _tag: "Unsupported", weak, reason: p, algorithm: family(alg.oid) }
  }
  const weak = isWeakHash(p.hash)
  if (p.kind === "DSA") {
    try {
      return await verifyDsa(issuer, p.hash!, data, signature, inheritedDsaParameters)
    } catch {
      return { _tag: "Invalid" }
    }
  }
  if (p.hash !== undefined && !webCryptoHashes.has(p.hash)) {
    return { _tag: "Unsupported", weak, reason: `hash ${p.hash} is not available`, algorithm: family(alg.oid) }
  }
  const keyPromise = importKey(issuer, p)
  if (typeof keyPromise === "string") {
    if (keyPromise === "key type mismatch") return { _tag: "Invalid" }
    return { _tag: "Unsupported", weak: true, reason: keyPromise, algorithm: family(alg.oid) }
  }
  try {
    const key = await keyPromise
    let sig = signature
    let params: WebCrypto.AlgorithmIdentifier | WebCrypto.RsaPssParams | WebCrypto.EcdsaParams = { name: p.kind }
    if (p.kind === "ECDSA") {
      const size = Math.ceil(
        (curves[Object.keys(curves).find((oid) => curves[oid].name === issuer.x509.publicKey.curve)!].size) / 8
      )
      const raw = ecdsaRaw(signature, size)
      if (raw === undefined) return { _tag: "Invalid" }
      sig = raw
      params = { name: "ECDSA", hash: p.hash! }
    } else if (p.kind === "RSA-PSS") {
      params = { name: "RSA-PSS", saltLength: p.saltLength! }
    }
    const ok = await WebCrypto.subtle().verify(params, key, Der.toArrayBuffer(sig), Der.toArrayBuffer(data))
    return ok ? { _tag: "Valid", weak } : { _tag: "Invalid" }
  } catch {
    // the key could not be imported (malformed), or the signature is unusable
    issuer.keys.delete(`${p.kind}/${p.hash ?? ""}`)
    return { _tag: "Invalid" }
  }
}
