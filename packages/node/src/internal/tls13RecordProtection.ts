/**
 * TLS 1.3 record protection, read side only: the key schedule step that turns a traffic secret into a
 * write key and IV (RFC 8446 §7.1, §7.3) and the AEAD decryption of one TLSCiphertext record (§5.2, §5.3).
 *
 * Used by the engine to read the server's encrypted handshake flight (accepted CA names). Key material
 * stays inside the returned object; `destroy` overwrites it.
 *
 * @internal
 */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js"
import * as Crypto from "node:crypto"

/**
 * @since 0.1.0
 * @category TLS 1.3
 */
/**
 * TLS record content types (RFC 8446 §5.1; the same numbers in TLS 1.2), shared by the
 * engine's two record readers (the accepted-CA sniffer and Bun's close_notify guard).
 *
 * @internal
 */
export const CT_CHANGE_CIPHER_SPEC = 20
/** @internal */
export const CT_ALERT = 21
/** @internal */
export const CT_HANDSHAKE = 22
/** @internal */
export const CT_APPLICATION_DATA = 23

export interface Tls13CipherSuite {
  readonly id: number
  readonly hash: "sha256" | "sha384"
  readonly hashLength: number
  readonly cipher: "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305" | "aes-128-ccm"
  readonly keyLength: number
  readonly tagLength: number
}

const suites: ReadonlyArray<Tls13CipherSuite> = [
  { id: 0x1301, hash: "sha256", hashLength: 32, cipher: "aes-128-gcm", keyLength: 16, tagLength: 16 },
  { id: 0x1302, hash: "sha384", hashLength: 48, cipher: "aes-256-gcm", keyLength: 32, tagLength: 16 },
  { id: 0x1303, hash: "sha256", hashLength: 32, cipher: "chacha20-poly1305", keyLength: 32, tagLength: 16 },
  { id: 0x1304, hash: "sha256", hashLength: 32, cipher: "aes-128-ccm", keyLength: 16, tagLength: 16 },
  { id: 0x1305, hash: "sha256", hashLength: 32, cipher: "aes-128-ccm", keyLength: 16, tagLength: 8 }
]

/**
 * Whether node:crypto has ChaCha20-Poly1305 (Node and Deno do; Bun 1.4's lists only the AES-GCM
 * AEADs, and `createDecipheriv("chacha20-poly1305")` throws "Unknown cipher", although its
 * node:tls negotiates the suite): elsewhere it is opened with `@noble/ciphers`.
 */
const nativeChaCha20Poly1305: boolean = Crypto.getCiphers().includes("chacha20-poly1305")

/**
 * Opens one AEAD ciphertext with a 16-byte tag (AES-GCM or ChaCha20-Poly1305, RFC 5116):
 * the plaintext, or undefined when it does not authenticate.
 *
 * @internal
 */
export const openAead = (
  cipher: "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305",
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array
): Buffer | undefined => {
  try {
    if (cipher === "chacha20-poly1305" && !nativeChaCha20Poly1305) {
      const sealed = new Uint8Array(ciphertext.length + tag.length)
      sealed.set(ciphertext)
      sealed.set(tag, ciphertext.length)
      const plain = chacha20poly1305(key, nonce, aad).decrypt(sealed)
      return Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength)
    }
    const decipher = Crypto.createDecipheriv(cipher as "aes-128-gcm", key, nonce, { authTagLength: 16 })
    decipher.setAAD(aad, { plaintextLength: ciphertext.length })
    decipher.setAuthTag(tag)
    return Buffer.concat([decipher.update(ciphertext), decipher.final()])
  } catch {
    return undefined
  }
}

/**
 * The TLS 1.3 cipher suite with this IANA code point, if supported.
 *
 * @since 0.1.0
 * @category TLS 1.3
 */
export const cipherSuite = (id: number): Tls13CipherSuite | undefined => {
  for (const suite of suites) {
    if (suite.id === id) return suite
  }
  return undefined
}

/**
 * HKDF-Expand-Label(secret, label, "", length) for length <= hash length (one HMAC block).
 *
 * @since 0.1.0
 * @category TLS 1.3
 */
export const hkdfExpandLabel = (
  hash: "sha256" | "sha384",
  secret: Uint8Array,
  label: string,
  length: number
): Buffer => {
  const full = "tls13 " + label
  const info = Buffer.allocUnsafe(2 + 1 + full.length + 1 + 1)
  info.writeUInt16BE(length, 0)
  info[2] = full.length
  info.write(full, 3, "latin1")
  info[3 + full.length] = 0 // empty context
  info[4 + full.length] = 1 // HKDF-Expand counter T(1)
  const t = Crypto.createHmac(hash, secret).update(info).digest()
  const out = Buffer.from(t.subarray(0, length))
  t.fill(0)
  return out
}

/**
 * Read side of one TLS 1.3 traffic key: decrypts records in order.
 *
 * @since 0.1.0
 * @category TLS 1.3
 */
export interface Tls13RecordReader {
  /** Maximum TLSCiphertext.length accepted (2^14 + 256). */
  readonly maxCiphertextLength: number
  /**
   * Decrypts one whole record (5-byte header + encrypted_record). Returns the TLSInnerPlaintext with
   * padding removed: `content` and its real `type`; `undefined` when authentication fails or the record
   * is malformed.
   */
  readonly open: (record: Uint8Array) => { readonly type: number; readonly content: Uint8Array } | undefined
  /** Overwrites the key material; the reader is unusable afterwards. */
  readonly destroy: () => void
}

/**
 * Derives key and IV from a traffic secret and returns a record reader starting at sequence number 0.
 *
 * @since 0.1.0
 * @category TLS 1.3
 */
export const makeRecordReader = (suite: Tls13CipherSuite, secret: Uint8Array): Tls13RecordReader => {
  const key = hkdfExpandLabel(suite.hash, secret, "key", suite.keyLength)
  const iv = hkdfExpandLabel(suite.hash, secret, "iv", 12)
  const nonce = Buffer.alloc(12)
  let seq = 0
  let destroyed = false
  const maxCiphertextLength = (1 << 14) + 256

  const open = (record: Uint8Array) => {
    if (destroyed) return undefined
    const length = record.length - 5
    if (length < suite.tagLength + 1 || length > maxCiphertextLength) return undefined
    // nonce = iv XOR (64-bit big-endian sequence number, left-padded to 12 bytes)
    iv.copy(nonce)
    const hi = Math.floor(seq / 0x100000000)
    const lo = seq >>> 0
    nonce.writeUInt32BE((nonce.readUInt32BE(4) ^ hi) >>> 0, 4)
    nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ lo) >>> 0, 8)
    seq++
    const aad = record.subarray(0, 5)
    const ciphertext = record.subarray(5, record.length - suite.tagLength)
    const tag = record.subarray(record.length - suite.tagLength)
    let plain: Buffer | undefined
    if (suite.cipher === "aes-128-ccm") {
      try {
        const decipher = Crypto.createDecipheriv(suite.cipher, key, nonce, { authTagLength: suite.tagLength })
        decipher.setAuthTag(tag)
        decipher.setAAD(aad, { plaintextLength: ciphertext.length })
        plain = decipher.update(ciphertext)
        decipher.final()
      } catch {
        return undefined
      }
    } else {
      plain = openAead(suite.cipher, key, nonce, aad, ciphertext, tag)
      if (plain === undefined) return undefined
    }
    // TLSInnerPlaintext: content || ContentType || zeros
    let end = plain.length
    while (end > 0 && plain[end - 1] === 0) end--
    if (end === 0) return undefined
    return { type: plain[end - 1], content: plain.subarray(0, end - 1) }
  }

  const destroy = () => {
    destroyed = true
    key.fill(0)
    iv.fill(0)
    nonce.fill(0)
  }

  return { maxCiphertextLength, open, destroy }
}
