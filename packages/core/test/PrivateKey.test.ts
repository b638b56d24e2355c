import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { execFileSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Certificate from "../src/Certificate.js"
import * as CertifiedKey from "../src/CertifiedKey.js"
import * as PrivateKey from "../src/PrivateKey.js"
import * as TlsInteraction from "../src/TlsInteraction.js"
import * as X from "./fixtures/x509.js"

const pkcs8Of = (key: PrivateKey.PrivateKey) =>
  crypto.createPrivateKey({ key: Buffer.from(Redacted.value(key.pkcs8)), format: "der", type: "pkcs8" })

const samePrivate = (a: crypto.KeyObject, b: crypto.KeyObject) =>
  assert.deepStrictEqual(
    a.export({ format: "jwk" }),
    b.export({ format: "jwk" })
  )

const ec = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" })
const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
const ed = crypto.generateKeyPairSync("ed25519")

const encrypted = (key: crypto.KeyObject, cipher: string, passphrase: string) =>
  key.export({ type: "pkcs8", format: "pem", cipher, passphrase }) as string

const withPasswords = (answers: ReadonlyArray<string>, asked: Array<boolean>) =>
  Effect.provideService(
    TlsInteraction.TlsInteraction,
    TlsInteraction.make({
      askPassword: (request) =>
        Effect.sync(() => {
          asked.push(request.retry)
          const answer = answers[asked.length - 1]
          return answer === undefined ? Option.none() : Option.some(Redacted.make(answer))
        })
    })
  )

describe("PrivateKey", () => {
  it.effect("reads PKCS#8 keys of every type and writes them back", () =>
    Effect.gen(function*() {
      for (const [pair, algorithm] of [[ec, "EC"], [rsa, "RSA"], [ed, "Ed25519"]] as const) {
        const pem = pair.privateKey.export({ type: "pkcs8", format: "pem" }) as string
        const key = yield* PrivateKey.fromPem(pem)
        assert.strictEqual(key.algorithm, algorithm)
        samePrivate(pkcs8Of(key), pair.privateKey)
        assert.strictEqual(Redacted.value(PrivateKey.toPem(key)).trim(), pem.trim())
        assert.notInclude(String(PrivateKey.toPem(key)), "PRIVATE")
        assert.notInclude(JSON.stringify(key), Buffer.from(Redacted.value(key.pkcs8)).toString("base64").slice(0, 20))
      }
    }))

  it.effect("wraps legacy RSA PRIVATE KEY and EC PRIVATE KEY into PKCS#8", () =>
    Effect.gen(function*() {
      const rsaKey = yield* PrivateKey.fromPem(rsa.privateKey.export({ type: "pkcs1", format: "pem" }) as string)
      assert.strictEqual(rsaKey.algorithm, "RSA")
      samePrivate(pkcs8Of(rsaKey), rsa.privateKey)
      const ecKey = yield* PrivateKey.fromPem(ec.privateKey.export({ type: "sec1", format: "pem" }) as string)
      assert.strictEqual(ecKey.algorithm, "EC")
      samePrivate(pkcs8Of(ecKey), ec.privateKey)
    }))

  it.effect("decrypts PBES2 keys (AES-128/192/256, HMAC-SHA256) with a given password", () =>
    Effect.gen(function*() {
      for (const cipher of ["aes-128-cbc", "aes-192-cbc", "aes-256-cbc"]) {
        const key = yield* PrivateKey.fromPem(encrypted(ec.privateKey, cipher, "s3cret"), { password: "s3cret" })
        samePrivate(pkcs8Of(key), ec.privateKey)
      }
      const redacted = yield* PrivateKey.fromPem(encrypted(rsa.privateKey, "aes-256-cbc", "pw"), {
        password: Redacted.make("pw")
      })
      samePrivate(pkcs8Of(redacted), rsa.privateKey)
    }))

  it.effect("decrypts an openssl `pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA1` key", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-tls-key-"))
      try {
        const plain = path.join(dir, "key.pem")
        fs.writeFileSync(plain, ed.privateKey.export({ type: "pkcs8", format: "pem" }))
        const out = execFileSync("openssl", [
          "pkcs8",
          "-topk8",
          "-v2",
          "aes-256-cbc",
          "-v2prf",
          "hmacWithSHA1",
          "-in",
          plain,
          "-passout",
          "pass:open sesame"
        ], { timeout: 10_000 }).toString()
        assert.include(out, "ENCRYPTED PRIVATE KEY")
        const key = yield* PrivateKey.fromPem(out, { password: "open sesame" })
        samePrivate(pkcs8Of(key), ed.privateKey)
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }))

  it.effect("wrong or missing passwords fail with TlsBadCertificatePasswordError", () =>
    Effect.gen(function*() {
      const pem = encrypted(ec.privateKey, "aes-256-cbc", "right")
      const wrong = yield* Effect.flip(PrivateKey.fromPem(pem, { password: "wrong" }))
      assert.strictEqual(wrong._tag, "TlsBadCertificatePasswordError")
      const missing = yield* Effect.flip(PrivateKey.fromPem(pem))
      assert.strictEqual(missing._tag, "TlsBadCertificatePasswordError")
      assert.include(missing.message, "no password")
    }))

  it.effect("asks TlsInteraction for a missing password, retrying after a wrong one", () =>
    Effect.gen(function*() {
      const pem = encrypted(ec.privateKey, "aes-128-cbc", "right")
      const asked: Array<boolean> = []
      const key = yield* PrivateKey.fromPem(pem).pipe(withPasswords(["wrong", "right"], asked))
      samePrivate(pkcs8Of(key), ec.privateKey)
      assert.deepStrictEqual(asked, [false, true])

      const asked2: Array<boolean> = []
      const error = yield* Effect.flip(PrivateKey.fromPem(pem).pipe(withPasswords(["a", "b", "c", "d"], asked2)))
      assert.strictEqual(error._tag, "TlsBadCertificatePasswordError")
      assert.deepStrictEqual(asked2, [false, true, true])
    }))

  it.effect("malformed keys fail with CertificateError", () =>
    Effect.gen(function*() {
      const none = yield* Effect.flip(PrivateKey.fromPem("nothing"))
      assert.strictEqual(none._tag, "CertificateError")
      const garbage = yield* Effect.flip(
        PrivateKey.fromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
      )
      assert.strictEqual(garbage._tag, "CertificateError")
      const legacyEncrypted = rsa.privateKey.export({
        type: "pkcs1",
        format: "pem",
        cipher: "aes-128-cbc",
        passphrase: "x"
      }) as string
      const legacy = yield* Effect.flip(PrivateKey.fromPem(legacyEncrypted, { password: "x" }))
      assert.strictEqual(legacy._tag, "CertificateError")
      if (legacy._tag === "CertificateError") assert.strictEqual(legacy.reason, "Unsupported")
    }))

  it.effect("CertifiedKey.fromPem pairs a chain with its key and rejects a mismatched key", () =>
    Effect.gen(function*() {
      const root = X.ca("Root")
      const leaf = X.leaf(root, ["k.test"])
      const pair = yield* CertifiedKey.fromPem(leaf.pem + root.pem, X.pkcs8Pem(leaf.key))
      assert.strictEqual(pair.chain.length, 2)
      assert.strictEqual(pair.key.algorithm, "EC")
      const mismatch = yield* Effect.flip(CertifiedKey.fromPem(leaf.pem, X.pkcs8Pem(root.key)))
      assert.strictEqual(mismatch._tag, "CertificateError")
      const empty = yield* Effect.flip(CertifiedKey.fromPem("", X.pkcs8Pem(leaf.key)))
      assert.strictEqual(empty._tag, "CertificateError")
      assert.isTrue((yield* Certificate.fromPem(leaf.pem)).length === 1)
    }))
})
