import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as crypto from "node:crypto"
import * as Certificate from "../src/Certificate.js"
import * as X from "./fixtures/x509.js"

const root = X.ca("Test Root", { key: X.generateKey("ec384") })

describe("Certificate", () => {
  it.effect("parses every field of a leaf", () =>
    Effect.gen(function*() {
      const leaf = X.leaf(root, ["example.com", "*.example.com"], {
        ips: ["127.0.0.1", "2001:db8::1"],
        serial: 0x1234,
        subject: X.name(["2.5.4.6", "FR"], ["2.5.4.10", "Acme, Inc."], ["2.5.4.3", "example.com"]),
        notBefore: new Date("2025-01-01T00:00:00Z"),
        notAfter: new Date("2055-06-01T12:00:00Z")
      })
      const cert = yield* Certificate.fromDer(leaf.der)
      assert.strictEqual(cert.subject.text, "CN=example.com,O=Acme\\, Inc.,C=FR")
      assert.deepStrictEqual(cert.subject.attributes.map((a) => a.type), ["C", "O", "CN"])
      assert.strictEqual(cert.subject.attributes[2].oid, "2.5.4.3")
      assert.strictEqual(cert.issuer.text, "CN=Test Root")
      assert.deepStrictEqual(cert.issuer.der, root.subject)
      assert.strictEqual(cert.serialNumber, "1234")
      assert.strictEqual(cert.notBefore.toISOString(), "2025-01-01T00:00:00.000Z")
      assert.strictEqual(cert.notAfter.toISOString(), "2055-06-01T12:00:00.000Z")
      assert.deepStrictEqual(cert.dnsNames, ["example.com", "*.example.com"])
      assert.deepStrictEqual(cert.ipAddresses, ["127.0.0.1", "2001:db8::1"])
      assert.isFalse(cert.isCa)
      assert.isFalse(cert.isSelfIssued)
      assert.deepStrictEqual(cert.publicKey, { algorithm: "EC", size: 256, curve: "P-256" })
      assert.strictEqual(cert.signatureAlgorithm, "ecdsa-with-SHA384".replace("384", "256"))
      const x509 = new crypto.X509Certificate(leaf.der)
      assert.strictEqual(cert.fingerprintSha256, x509.fingerprint256.replace(/:/g, "").toLowerCase())
      const spki = x509.publicKey.export({ type: "spki", format: "der" })
      assert.strictEqual(cert.spkiSha256, crypto.createHash("sha256").update(spki).digest("base64"))
    }))

  it.effect("reads CA flags, key types and signature algorithms", () =>
    Effect.gen(function*() {
      const rootCert = yield* Certificate.fromDer(root.der)
      assert.isTrue(rootCert.isCa)
      assert.isTrue(rootCert.isSelfIssued)
      assert.deepStrictEqual(rootCert.publicKey, { algorithm: "EC", size: 384, curve: "P-384" })
      assert.strictEqual(rootCert.signatureAlgorithm, "ecdsa-with-SHA256")

      const rsa = X.issue({ subject: "rsa", key: X.generateKey("rsa2048"), hash: "sha1" })
      const rsaCert = yield* Certificate.fromDer(rsa.der)
      assert.deepStrictEqual(rsaCert.publicKey, { algorithm: "RSA", size: 2048 })
      assert.strictEqual(rsaCert.signatureAlgorithm, "sha1WithRSAEncryption")

      const ed = X.issue({ subject: "ed", key: X.generateKey("ed25519") })
      const edCert = yield* Certificate.fromDer(ed.der)
      assert.deepStrictEqual(edCert.publicKey, { algorithm: "Ed25519", size: 256 })
      assert.strictEqual(edCert.signatureAlgorithm, "Ed25519")

      const pss = X.issue({ subject: "pss", key: X.generateKey("rsa-pss") })
      assert.strictEqual((yield* Certificate.fromDer(pss.der)).signatureAlgorithm, "rsassaPss")
    }))

  it.effect("PEM round trip, chains, isSame and Equal", () =>
    Effect.gen(function*() {
      const leaf = X.leaf(root, ["a.test"])
      const chain = yield* Certificate.fromPem(`junk before\n${leaf.pem}\n${root.pem}trailing`)
      assert.strictEqual(chain.length, 2)
      assert.strictEqual(chain[0].subject.text, "CN=a.test")
      const again = yield* Certificate.fromPem(Certificate.toPem(chain))
      assert.isTrue(Certificate.isSame(again[0], chain[0]))
      assert.isFalse(Certificate.isSame(again[0], again[1]))
      assert.isTrue(Equal.equals(again[1], chain[1]))
      assert.strictEqual(Certificate.toPem(chain[0]), leaf.pem)
    }))

  it.effect("IPv6 addresses are printed in RFC 5952 form", () =>
    Effect.gen(function*() {
      const cert = yield* Certificate.fromDer(X.leaf(root, [], { ips: ["::1", "fe80:0:0:1::", "1:0:0:2:0:0:0:3"] }).der)
      assert.deepStrictEqual(cert.ipAddresses, ["::1", "fe80:0:0:1::", "1:0:0:2::3"])
    }))

  it.effect("isIssuedBy and findIssuer check the signature, not just the names", () =>
    Effect.gen(function*() {
      const leaf = yield* Certificate.fromDer(X.leaf(root, ["i.test"]).der)
      const rootCert = yield* Certificate.fromDer(root.der)
      const impostor = yield* Certificate.fromDer(X.ca("Test Root").der)
      assert.isTrue(yield* Certificate.isIssuedBy(leaf, rootCert))
      assert.isFalse(yield* Certificate.isIssuedBy(leaf, impostor))
      assert.isFalse(yield* Certificate.isIssuedBy(rootCert, leaf))
      const found = yield* Certificate.findIssuer(leaf, [impostor, leaf, rootCert])
      assert.isTrue(Option.isSome(found) && Certificate.isSame(found.value, rootCert))
      assert.isTrue(Option.isNone(yield* Certificate.findIssuer(leaf, [impostor])))
    }))

  it.effect("nameFromDer", () =>
    Effect.gen(function*() {
      const name = yield* Certificate.nameFromDer(X.name(["2.5.4.10", "O1"], ["2.5.4.3", "#leading"]))
      assert.strictEqual(name.text, "CN=\\#leading,O=O1")
      const bad = yield* Effect.exit(Certificate.nameFromDer(new Uint8Array([0x30, 0x05, 0x31])))
      assert.isTrue(Exit.isFailure(bad))
    }))

  it.effect("malformed input fails with CertificateError, never a defect", () =>
    Effect.gen(function*() {
      const der = X.leaf(root, ["x.test"]).der
      const inputs: Array<Uint8Array> = [
        new Uint8Array(),
        new Uint8Array([0x30]),
        new Uint8Array([0x30, 0x80, 0x00, 0x00]),
        der.subarray(0, der.length - 1),
        new Uint8Array([...der, 0x00]),
        crypto.randomBytes(300)
      ]
      for (let i = 10; i < der.length; i += 37) {
        const copy = der.slice()
        copy[i] ^= 0xff
        inputs.push(copy)
      }
      for (const input of inputs) {
        const exit = yield* Effect.exit(Certificate.fromDer(input))
        if (Exit.isFailure(exit)) {
          const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          assert.instanceOf(error, Certificate.CertificateError)
        }
      }
      const first = yield* Effect.flip(Certificate.fromDer(inputs[0]))
      assert.strictEqual(first.reason, "InvalidDer")
      const pem = yield* Effect.flip(Certificate.fromPem("no pem here"))
      assert.strictEqual(pem.reason, "InvalidPem")
      const badBase64 = yield* Effect.flip(
        Certificate.fromPem("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----")
      )
      assert.strictEqual(badBase64.reason, "InvalidPem")
    }))
  it.effect("fromDerEither (no Effect) agrees with fromDer: the same certificate, or a CertificateError", () =>
    Effect.gen(function*() {
      const der = X.leaf(root, ["either.test"]).der
      const viaEffect = yield* Certificate.fromDer(der.slice())
      const viaEither = Certificate.fromDerEither(der.slice())
      assert.isTrue(Either.isRight(viaEither))
      if (Either.isRight(viaEither)) {
        assert.isTrue(Equal.equals(viaEither.right, viaEffect))
        assert.strictEqual(viaEither.right.subject.text, "CN=either.test")
      }
      for (const bad of [new Uint8Array(), new Uint8Array([0x30, 0x80, 0x00, 0x00]), der.subarray(0, der.length - 1)]) {
        const either = Certificate.fromDerEither(bad)
        assert.isTrue(Either.isLeft(either))
        if (Either.isLeft(either)) {
          assert.instanceOf(either.left, Certificate.CertificateError)
          assert.strictEqual(either.left.reason, "InvalidDer")
        }
        assert.isTrue(Exit.isFailure(yield* Effect.exit(Certificate.fromDer(bad))))
      }
    }))

  it.effect("fingerprints are SHA-256 of the DER and of the SPKI, for every size of certificate", () =>
    Effect.gen(function*() {
      // names of growing length move the DER across every padding boundary of SHA-256's blocks
      for (let n = 0; n < 140; n += 1) {
        const leaf = X.leaf(root, [`${"a".repeat(n)}.test`])
        const cert = yield* Certificate.fromDer(leaf.der)
        assert.strictEqual(cert.fingerprintSha256, crypto.createHash("sha256").update(leaf.der).digest("hex"))
        const spki = new crypto.X509Certificate(leaf.der).publicKey.export({ type: "spki", format: "der" })
        assert.strictEqual(cert.spkiSha256, crypto.createHash("sha256").update(spki).digest("base64"))
      }
      const rsa = X.issue({ subject: "rsa", key: X.generateKey("rsa2048") })
      const rsaCert = yield* Certificate.fromDer(rsa.der)
      assert.strictEqual(rsaCert.fingerprintSha256, crypto.createHash("sha256").update(rsa.der).digest("hex"))
    }))

  it.effect("the same DER parsed again gives an equal certificate; changed bytes are parsed anew", () =>
    Effect.gen(function*() {
      const leaf = X.leaf(root, ["cache.test"])
      const first = yield* Certificate.fromDer(leaf.der.slice())
      const again = yield* Certificate.fromDer(leaf.der.slice())
      assert.isTrue(Equal.equals(first, again))
      assert.deepStrictEqual(again.der, leaf.der)
      assert.strictEqual(again.subject.text, "CN=cache.test")
      // a caller that changes a certificate's bytes never gets that certificate for the original DER
      const victim = yield* Certificate.fromDer(leaf.der.slice())
      ;(victim.der as Uint8Array)[victim.der.length - 1] ^= 0x01
      const fresh = yield* Certificate.fromDer(leaf.der.slice())
      assert.deepStrictEqual(fresh.der, leaf.der)
      assert.strictEqual(fresh.fingerprintSha256, crypto.createHash("sha256").update(leaf.der).digest("hex"))
      // the input is copied: changing it afterwards changes nothing
      const input = leaf.der.slice()
      const parsed = yield* Certificate.fromDer(input)
      input[10] ^= 0xff
      assert.deepStrictEqual(parsed.der, leaf.der)
      // a node Buffer too, whose slice() is a view of the same bytes, not a copy
      const other0 = X.leaf(root, ["buffer.test"]).der
      const buffer = Buffer.from(other0)
      const fromBuffer = yield* Certificate.fromDer(buffer)
      buffer.fill(0)
      assert.deepStrictEqual(new Uint8Array(fromBuffer.der), new Uint8Array(other0))
      assert.strictEqual(fromBuffer.subject.text, "CN=buffer.test")
      // another certificate is another entry
      const other = yield* Certificate.fromDer(X.leaf(root, ["other.test"]).der)
      assert.isFalse(Equal.equals(other, fresh))
      assert.strictEqual(other.subject.text, "CN=other.test")
    }))
})
