/**
 * DSA (FIPS 186-4 §4.7, RFC 3279 §2.2.2 / §2.3.2, RFC 5758 §3.1) through `Verifier.verify`,
 * on the DSA PKI of `fixtures/dsa.json` (see `fixtures/generate-dsa.ts`): valid
 * signatures with SHA-1, SHA-224 and SHA-256, keys without parameters inheriting their
 * issuer's (over two levels, and for a CRL's signature), a bad signature rejected; a path
 * verified for a host name (a TLS server's) refuses DSA.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Certificate from "../src/Certificate.js"
import * as CertificateFlags from "../src/CertificateFlags.js"
import * as Crl from "../src/Crl.js"
import { modPow, readParams, verify } from "../src/internal/dsa.js"
import { sha224 } from "../src/internal/sha2.js"
import * as Verifier from "../src/Verifier.js"

const fixtures = JSON.parse(
  fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures/dsa.json"), "utf8")
) as Record<string, string>
const der = (name: string) => Uint8Array.from(Buffer.from(fixtures[name], "base64"))
const cert = (name: string) => Certificate.fromDer(der(name))
const time = new Date("2026-01-01T00:00:00Z")

const check = (
  leafName: string,
  rest: ReadonlyArray<string>,
  options: { crls?: ReadonlyArray<string>; revocation?: "ifAvailable" | "required"; identity?: string } = {}
) =>
  Effect.gen(function*() {
    const root = yield* cert("root")
    const chain = yield* Effect.forEach([leafName, ...rest], cert)
    const verifier = Verifier.make({
      anchors: [root],
      crls: (options.crls ?? []).map((n) => Crl.unsafeFromDer(der(n)))
    })
    return yield* verifier.verify(chain, {
      purpose: "client",
      identity: options.identity,
      time,
      revocation: options.revocation
    })
  })

describe("DSA", () => {
  it.effect("a DSA key's size is its prime's; a key without parameters says 0", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual((yield* cert("root")).publicKey, { algorithm: "DSA", size: 2048 })
      assert.deepStrictEqual((yield* cert("inheritingCa")).publicKey, { algorithm: "DSA", size: 0 })
      assert.strictEqual((yield* cert("leaf")).signatureAlgorithm, "dsa-with-SHA256")
    }))

  it.effect("verifies dsa-with-SHA256 and dsa-with-SHA224 signatures", () =>
    Effect.gen(function*() {
      const ok = yield* check("leaf", [])
      assert.strictEqual(CertificateFlags.format(ok.flags), "none")
      assert.strictEqual(ok.path?.length, 2)
      const sha224Result = yield* check("sha224Leaf", [])
      assert.strictEqual(CertificateFlags.format(sha224Result.flags), "none")
    }))

  it.effect("dsa-with-SHA1 verifies but is weak", () =>
    Effect.gen(function*() {
      const result = yield* check("sha1Leaf", [])
      assert.strictEqual(CertificateFlags.format(result.flags), "Insecure")
      assert.isTrue(result.reasons.some((r) => r.code === "Weak" && r.detail === "weak signature"))
    }))

  it.effect("rejects an invalid DSA signature (PKITS 4.1.6's case)", () =>
    Effect.gen(function*() {
      const result = yield* check("badSignatureLeaf", [])
      assert.isTrue(CertificateFlags.has(result.flags, "UnknownCa"))
      assert.isUndefined(result.path)
      const root = yield* cert("root")
      assert.isFalse(yield* Certificate.isIssuedBy(yield* cert("badSignatureLeaf"), root))
      assert.isTrue(yield* Certificate.isIssuedBy(yield* cert("leaf"), root))
    }))

  it.effect("a key without parameters takes its issuer's, over two levels (RFC 3279 2.3.2)", () =>
    Effect.gen(function*() {
      const result = yield* check("inheritedLeaf", ["inheritingCa"])
      assert.strictEqual(CertificateFlags.format(result.flags), "none")
      assert.strictEqual(result.path?.length, 3)
    }))

  it.effect("an inherited-parameters link still needs the right key", () =>
    Effect.gen(function*() {
      const result = yield* check("foreignLeaf", ["inheritingCa"])
      assert.isTrue(CertificateFlags.has(result.flags, "UnknownCa"))
      assert.isTrue(result.reasons.some((r) => r.code === "Signature" && r.certificate === 0))
    }))

  it.effect("without the issuer above it, a parameterless key cannot be checked: typed reason", () =>
    Effect.gen(function*() {
      // the inheriting CA as the anchor: its key has no parameters and nothing above it
      const ca = yield* cert("inheritingCa")
      const leaf = yield* cert("inheritedLeaf")
      const result = yield* Verifier.make({ anchors: [ca] }).verify([leaf], { purpose: "server", time })
      assert.isFalse(CertificateFlags.isEmpty(result.flags))
      assert.isTrue(result.reasons.some((r) => r.code === "UnsupportedAlgorithm" && r.algorithm === "DSA"))
    }))

  it.effect("a path checked for a TLS server identity refuses DSA keys (TLS 1.3, CA/B Forum BR 6.1.5)", () =>
    Effect.gen(function*() {
      const result = yield* check("leaf", [], { identity: "dsa.example" })
      assert.strictEqual(CertificateFlags.format(result.flags), "GenericError")
      const dsaReasons = result.reasons.filter((r) => r.code === "UnsupportedAlgorithm" && r.algorithm === "DSA")
      assert.deepStrictEqual(dsaReasons.map((r) => r.certificate), [0, 1])
    }))

  it.effect("a CRL signed by a key with inherited parameters is checked (revoked, and good with required)", () =>
    Effect.gen(function*() {
      const good = yield* check("inheritedLeaf", ["inheritingCa"], { crls: ["crl"], revocation: "required" })
      // the root itself is below no one: only the CA's CRL is needed... and the CA needs the root's
      assert.isTrue(good.reasons.every((r) => r.certificate !== 0), CertificateFlags.format(good.flags))
      const revoked = yield* check("inheritedLeaf", ["inheritingCa"], { crls: ["revokingCrl"] })
      assert.strictEqual(CertificateFlags.format(revoked.flags), "Revoked")
    }))
})

describe("DSA arithmetic", () => {
  it("FIPS 186-4 4.7 on a toy group, and r, s out of range refused", () => {
    // p = 23, q = 11, g = 4 (order 11); too small for readParams, so built by hand
    const params = { p: 23n, q: 11n, g: 4n }
    const x = 3n
    const y = modPow(4n, x, 23n)
    const k = 7n
    const digest = new Uint8Array([0x50]) // its leftmost 4 bits (q's length): z = 5
    const r = modPow(4n, k, 23n) % 11n
    const kInv = modPow(k, 9n, 11n) // k^(q-2) mod q
    const s = (kInv * (5n + x * r)) % 11n
    const sig = (rr: bigint, ss: bigint) => Uint8Array.from([0x30, 6, 0x02, 1, Number(rr), 0x02, 1, Number(ss)])
    assert.isTrue(verify(params, y, digest, sig(r, s)))
    assert.isFalse(verify(params, y, digest, sig(r, (s + 1n) % 11n)))
    assert.isFalse(verify(params, y, digest, sig(0n, s)))
    assert.isFalse(verify(params, y, digest, sig(r + 11n, s)))
    assert.isFalse(verify(params, y, digest, sig(r, 0n)))
    assert.isFalse(verify(params, y, digest, new Uint8Array([0x30, 0])))
  })

  it("refuses parameters that are not a DSA group", () => {
    const root = der("root")
    const at = Buffer.from(root).indexOf(Buffer.from([0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01]))
    const paramsStart = at + 9
    const length = (root[paramsStart + 2] << 8) | root[paramsStart + 3]
    const params = root.slice(paramsStart, paramsStart + 4 + length)
    assert.strictEqual(readParams(params).p.toString(2).length, 2048)
    const broken = params.slice()
    broken[broken.length - 1] ^= 1 // g changed: no longer of order q
    assert.throws(() => readParams(broken))
  })

  it("SHA-224 (FIPS 180-4 test vectors)", () => {
    const hex = (s: string) => Buffer.from(sha224(new TextEncoder().encode(s))).toString("hex")
    assert.strictEqual(hex("abc"), "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7")
    assert.strictEqual(hex(""), "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f")
    assert.strictEqual(
      hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "75388b16512776cc5dba5da1fd890150b0c6455cb4f58b1952522525"
    )
  })
})
