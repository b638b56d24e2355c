import * as Certificate from "@effect-tls/core/Certificate"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import type * as Net from "node:net"
import * as Tls from "node:tls"

// --- helpers -------------------------------------------------------------------------

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command (bounded to 10 s, killed on interruption). */
const run = (file: string, args: ReadonlyArray<string>): Effect.Effect<Run> =>
  Effect.async<Run>((resume) => {
    const child = ChildProcess.execFile(file, [...args], { timeout: 10_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
      resume(Effect.succeed({ code, stdout: String(stdout), stderr: String(stderr) }))
    })
    return Effect.sync(() => child.kill())
  })

const openssl = (...args: ReadonlyArray<string>) => run("openssl", args)

/** A temporary directory with the given files, removed with the scope. */
const files = (contents: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = Fs.mkdtempSync("/tmp/testpki-test-")
      const paths: Record<string, string> = {}
      for (const [name, text] of Object.entries(contents)) {
        paths[name] = `${dir}/${name}`
        Fs.writeFileSync(paths[name], text)
      }
      return paths
    }),
    (paths) =>
      Effect.sync(() => {
        const any = Object.values(paths)[0]
        if (any) Fs.rmSync(any.slice(0, any.lastIndexOf("/")), { recursive: true, force: true })
      })
  )

const x509 = (issued: TestPki.Issued) => new Crypto.X509Certificate(issued.pem)

const text = (issued: TestPki.Issued) =>
  Effect.gen(function*() {
    const paths = yield* files({ "cert.pem": issued.pem })
    const result = yield* openssl("x509", "-in", paths["cert.pem"], "-noout", "-text")
    assert.strictEqual(result.code, 0, result.stderr)
    return result.stdout
  })

/** `openssl verify` of a leaf against the root, with the intermediates as untrusted. */
const verify = (
  pki: TestPki.Authority,
  issued: TestPki.Issued,
  extra: ReadonlyArray<string> = []
) =>
  Effect.gen(function*() {
    const paths = yield* files({
      "ca.pem": pki.caPem,
      "leaf.pem": issued.pem,
      "untrusted.pem": issued.chainPem
    })
    return yield* openssl(
      "verify",
      "-CAfile",
      paths["ca.pem"],
      "-untrusted",
      paths["untrusted.pem"],
      ...extra,
      paths["leaf.pem"]
    )
  })

const DAY = 86_400_000

describe("TestPki", () => {
  describe("certificates (checked by openssl and node:crypto)", () => {
    it.scopedLive("a server certificate chains to the root, with SANs, EKU and key identifiers", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const server = yield* pki.issueServer({ dnsNames: ["localhost", "*.example.com"], ipAddresses: ["127.0.0.1"] })
        const cert = x509(server)
        const root = new Crypto.X509Certificate(pki.caPem)
        assert.isTrue(cert.verify(root.publicKey))
        assert.isTrue(root.verify(root.publicKey))
        assert.isTrue(root.ca)
        assert.isFalse(cert.ca)
        assert.isTrue(cert.checkIssued(root))
        assert.strictEqual(cert.checkHost("localhost"), "localhost")
        assert.strictEqual(cert.checkHost("a.example.com"), "*.example.com")
        assert.isUndefined(cert.checkHost("a.b.example.com"))
        assert.isUndefined(cert.checkHost("example.com"))
        assert.isUndefined(cert.checkHost("example.org"))
        assert.strictEqual(cert.checkIP("127.0.0.1"), "127.0.0.1")
        assert.isUndefined(cert.checkIP("127.0.0.2"))
        assert.deepStrictEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.1"])
        assert.strictEqual(cert.serialNumber.toLowerCase().replace(/^0+/, ""), server.serialNumber.replace(/^0+/, ""))

        const out = yield* text(server)
        assert.include(out, "DNS:localhost, DNS:*.example.com, IP Address:127.0.0.1")
        assert.include(out, "TLS Web Server Authentication")
        assert.match(out, /Basic Constraints: critical\s+CA:FALSE/)
        assert.match(out, /Key Usage: critical\s+Digital Signature/)
        assert.match(out, /Subject Key Identifier/)
        assert.match(out, /Authority Key Identifier/)
        assert.include(out, "ecdsa-with-SHA256")
        assert.include(out, "NIST CURVE: P-256")

        const ok = yield* verify(pki, server, ["-purpose", "sslserver"])
        assert.strictEqual(ok.code, 0, ok.stdout + ok.stderr)
        assert.include(ok.stdout, ": OK")
      }))

    it.scopedLive("the subject key identifier of the issuer is the authority key identifier of the issued", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const server = yield* pki.issueServer()
        const rootText = yield* text(pki.ca)
        const leafText = yield* text(server)
        const ski = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(rootText)?.[1]
        const rootAki = /Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(rootText)?.[1]
        const aki = /Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(leafText)?.[1]
        assert.isDefined(ski)
        assert.strictEqual(aki, ski)
        assert.strictEqual(rootAki, ski)
        assert.match(rootText, /Basic Constraints: critical\s+CA:TRUE/)
        assert.match(rootText, /Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/)
      }))

    it.scopedLive("client certificates carry clientAuth only", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const client = yield* pki.issueClient({ commonName: "alice" })
        const cert = x509(client)
        assert.include(cert.subject, "CN=alice")
        assert.deepStrictEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.2"])
        assert.isUndefined(cert.subjectAltName)
        const asClient = yield* verify(pki, client, ["-purpose", "sslclient"])
        assert.strictEqual(asClient.code, 0, asClient.stdout + asClient.stderr)
        const asServer = yield* verify(pki, client, ["-purpose", "sslserver"])
        assert.notStrictEqual(asServer.code, 0)
        assert.include(asServer.stdout + asServer.stderr, "unsuitable certificate purpose")
      }))

    it.scopedLive("EKU: none and custom", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const none = yield* pki.issue({ extendedKeyUsage: "none" })
        assert.isUndefined(x509(none).keyUsage)
        const custom = yield* pki.issue({ extendedKeyUsage: ["codeSigning", "1.2.3.4.5"] })
        assert.deepStrictEqual(x509(custom).keyUsage, ["1.3.6.1.5.5.7.3.3", "1.2.3.4.5"])
        const both = yield* pki.issue()
        assert.deepStrictEqual(x509(both).keyUsage, ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"])
        const ku = yield* pki.issue({ keyUsage: ["keyAgreement"] })
        assert.match(yield* text(ku), /Key Usage: critical\s+Key Agreement/)
        const noKu = yield* pki.issue({ keyUsage: "none", basicConstraints: "none" })
        const noKuText = yield* text(noKu)
        assert.notInclude(noKuText, "X509v3 Key Usage")
        assert.notInclude(noKuText, "Basic Constraints")
      }))

    it.scopedLive("expired and not-yet-valid certificates show the right dates", () =>
      Effect.gen(function*() {
        const now = new Date("2030-06-15T12:00:00Z")
        const pki = yield* TestPki.make({ now })
        assert.strictEqual(pki.now.getTime(), now.getTime())
        const expired = yield* pki.issueServer({ validity: "expired" })
        const future = yield* pki.issueServer({ validity: "notYetValid" })
        const valid = yield* pki.issueServer()
        assert.strictEqual(new Date(x509(expired).validTo).getTime(), now.getTime() - DAY)
        assert.strictEqual(new Date(x509(expired).validFrom).getTime(), now.getTime() - 30 * DAY)
        assert.strictEqual(new Date(x509(future).validFrom).getTime(), now.getTime() + DAY)
        assert.strictEqual(new Date(x509(future).validTo).getTime(), now.getTime() + 30 * DAY)
        assert.isBelow(new Date(x509(valid).validFrom).getTime(), now.getTime())
        assert.isAbove(new Date(x509(valid).validTo).getTime(), now.getTime())
        assert.strictEqual(expired.notAfter.getTime(), now.getTime() - DAY)

        const attime = ["-attime", String(Math.floor(now.getTime() / 1000))]
        const expiredRun = yield* verify(pki, expired, attime)
        assert.include(expiredRun.stdout + expiredRun.stderr, "certificate has expired")
        const futureRun = yield* verify(pki, future, attime)
        assert.include(futureRun.stdout + futureRun.stderr, "certificate is not yet valid")
        const validRun = yield* verify(pki, valid, attime)
        assert.strictEqual(validRun.code, 0, validRun.stdout + validRun.stderr)

        // explicit dates, and dates after 2049 (GeneralizedTime)
        const explicit = yield* pki.issue({
          notBefore: new Date("2029-01-01T00:00:00Z"),
          notAfter: new Date("2051-01-01T00:00:00Z")
        })
        assert.strictEqual(new Date(x509(explicit).validFrom).toISOString(), "2029-01-01T00:00:00.000Z")
        assert.strictEqual(new Date(x509(explicit).validTo).toISOString(), "2051-01-01T00:00:00.000Z")
      }))

    it.scopedLive("the wall clock dates certificates by default", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const server = yield* pki.issueServer()
        const cert = x509(server)
        assert.isBelow(new Date(cert.validFrom).getTime(), Date.now())
        assert.isAbove(new Date(cert.validTo).getTime(), Date.now() + 30 * DAY)
        const ok = yield* verify(pki, server)
        assert.strictEqual(ok.code, 0, ok.stdout + ok.stderr)
      }))

    it.scopedLive("intermediates chain, and can issue in turn", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const intermediate = yield* pki.intermediate({ pathLength: 0 })
        const server = yield* intermediate.issueServer()
        assert.strictEqual(server.chain.length, 2)
        assert.strictEqual(intermediate.caPem, pki.caPem)
        assert.strictEqual(intermediate.root, pki.root)
        const cert = x509(server)
        const inter = x509(intermediate.ca)
        assert.isTrue(cert.verify(inter.publicKey))
        assert.isTrue(inter.verify(new Crypto.X509Certificate(pki.caPem).publicKey))
        assert.strictEqual(server.chainPem, server.pem + intermediate.ca.pem)
        assert.match(yield* text(intermediate.ca), /CA:TRUE, pathlen:0/)
        const ok = yield* verify(pki, server, ["-purpose", "sslserver"])
        assert.strictEqual(ok.code, 0, ok.stdout + ok.stderr)
        // without the intermediate the chain does not verify
        const paths = yield* files({ "ca.pem": pki.caPem, "leaf.pem": server.pem })
        const missing = yield* openssl("verify", "-CAfile", paths["ca.pem"], paths["leaf.pem"])
        assert.include(missing.stdout + missing.stderr, "unable to get local issuer certificate")
      }))

    it.scopedLive("path length exceeded", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make({ pathLength: 0 })
        const intermediate = yield* pki.intermediate()
        const leaf = yield* intermediate.issueServer()
        const result = yield* verify(pki, leaf)
        assert.include(result.stdout + result.stderr, "path length constraint exceeded")
        const deeper = yield* (yield* (yield* TestPki.make()).intermediate({ pathLength: 0 })).intermediate()
        const deepLeaf = yield* deeper.issueServer()
        assert.strictEqual(deepLeaf.chain.length, 3)
        const deepResult = yield* verify(deeper, deepLeaf)
        assert.include(deepResult.stdout + deepResult.stderr, "path length constraint exceeded")
      }))

    it.scopedLive("a CA:false certificate that signs others", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const notCa = yield* pki.intermediate({ isCa: false })
        assert.match(yield* text(notCa.ca), /CA:FALSE/)
        const leaf = yield* notCa.issueServer()
        assert.isTrue(x509(leaf).verify(x509(notCa.ca).publicKey))
        const result = yield* verify(pki, leaf)
        assert.include(result.stdout + result.stderr, "invalid CA certificate")
      }))

    it.scopedLive("a self-signed leaf", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const self = yield* pki.issueServer({ selfSigned: true })
        const cert = x509(self)
        assert.strictEqual(cert.subject, cert.issuer)
        assert.isTrue(cert.verify(cert.publicKey))
        assert.strictEqual(self.chain.length, 1)
        const result = yield* verify(pki, self)
        assert.include(result.stdout + result.stderr, "self-signed certificate")
      }))

    it.scopedLive("serial numbers: random and positive, or given", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const a = yield* pki.issue()
        const b = yield* pki.issue()
        assert.notStrictEqual(a.serialNumber, b.serialNumber)
        assert.match(a.serialNumber, /^[0-9a-f]+$/)
        const given = yield* pki.issue({ serial: 0x1234abcdn })
        assert.strictEqual(given.serialNumber, "1234abcd")
        assert.strictEqual(x509(given).serialNumber.toLowerCase(), "1234abcd")
        const high = yield* pki.issue({ serial: 0xff01n })
        assert.strictEqual(high.serialNumber, "00ff01".replace(/^00/, ""))
        assert.match(yield* text(high), /Serial Number: 65281 \(0xff01\)/)
      }))

    it.scopedLive("leaf keys are shared per key type unless fresh; CA keys are always fresh", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const intermediate = yield* pki.intermediate()
        const a = yield* pki.issueServer()
        const b = yield* intermediate.issueClient()
        const fresh = yield* pki.issueServer({ freshKey: true })
        const spki = (i: TestPki.Issued) => x509(i).publicKey.export({ type: "spki", format: "der" }).toString("hex")
        assert.strictEqual(spki(a), spki(b))
        assert.notStrictEqual(spki(a), spki(fresh))
        assert.notStrictEqual(spki(pki.ca), spki(intermediate.ca))
        assert.notStrictEqual(spki(pki.ca), spki(a))
        assert.strictEqual(a.keyPem, b.keyPem)
        assert.isTrue(Crypto.createPublicKey(a.privateKey).equals(x509(a).publicKey))
      }))
  })

  describe("key types and signature algorithms", () => {
    it.scopedLive("SHA-1 signatures really use SHA-1", () =>
      Effect.gen(function*() {
        const ec = yield* TestPki.make()
        const ecSha1 = yield* ec.issueServer({ signatureHash: "sha1" })
        assert.include(yield* text(ecSha1), "ecdsa-with-SHA1")
        assert.isTrue(x509(ecSha1).verify(new Crypto.X509Certificate(ec.caPem).publicKey))

        const rsa = yield* TestPki.make({ keyType: "rsa-2048" })
        const rsaSha1 = yield* rsa.issueServer({ signatureHash: "sha1" })
        assert.include(yield* text(rsaSha1), "sha1WithRSAEncryption")
        assert.isTrue(x509(rsaSha1).verify(new Crypto.X509Certificate(rsa.caPem).publicKey))
        const sha1Root = yield* TestPki.make({ signatureHash: "sha1", keyType: "rsa-2048" })
        assert.include(yield* text(sha1Root.ca), "sha1WithRSAEncryption")
      }))

    it.scopedLive("RSA-1024 keys are 1024 bits", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const small = yield* pki.issueServer({ keyType: "rsa-1024" })
        const cert = x509(small)
        assert.strictEqual(cert.publicKey.asymmetricKeyType, "rsa")
        assert.strictEqual(cert.publicKey.asymmetricKeyDetails?.modulusLength, 1024)
        assert.include(yield* text(small), "Public-Key: (1024 bit)")
        assert.match(yield* text(small), /Key Usage: critical\s+Digital Signature, Key Encipherment/)
        assert.isTrue(cert.verify(new Crypto.X509Certificate(pki.caPem).publicKey))
      }))

    it.scopedLive("RSA-PSS, RSA PKCS#1 SHA-384, P-384 and Ed25519", () =>
      Effect.gen(function*() {
        const rsa = yield* TestPki.make({ keyType: "rsa-2048" })
        const rsaPublic = new Crypto.X509Certificate(rsa.caPem).publicKey
        const pss = yield* rsa.issueServer({ rsaPss: true })
        const pssText = yield* text(pss)
        assert.include(pssText, "rsassaPss")
        assert.include(pssText, "Mask Algorithm: mgf1 with sha256")
        assert.include(pssText, "Salt Length: 0x20")
        assert.isTrue(x509(pss).verify(rsaPublic))
        const pssOk = yield* verify(rsa, pss)
        assert.strictEqual(pssOk.code, 0, pssOk.stdout + pssOk.stderr)
        const sha384 = yield* rsa.issueServer({ signatureHash: "sha384" })
        assert.include(yield* text(sha384), "sha384WithRSAEncryption")
        assert.isTrue(x509(sha384).verify(rsaPublic))

        const p384 = yield* TestPki.make({ keyType: "ec-p384", signatureHash: "sha384" })
        const p384Leaf = yield* p384.issueServer({ keyType: "ec-p384", signatureHash: "sha384" })
        const p384Text = yield* text(p384Leaf)
        assert.include(p384Text, "NIST CURVE: P-384")
        assert.include(p384Text, "ecdsa-with-SHA384")
        const p384Ok = yield* verify(p384, p384Leaf)
        assert.strictEqual(p384Ok.code, 0, p384Ok.stdout + p384Ok.stderr)

        const ed = yield* TestPki.make({ keyType: "ed25519" })
        const edLeaf = yield* ed.issueServer({ keyType: "ed25519" })
        const edText = yield* text(edLeaf)
        assert.include(edText, "Signature Algorithm: ED25519")
        assert.include(edText, "Public Key Algorithm: ED25519")
        assert.notMatch(edText, /Key Encipherment/)
        const edOk = yield* verify(ed, edLeaf)
        assert.strictEqual(edOk.code, 0, edOk.stdout + edOk.stderr)
      }))
  })

  describe("CRLs", () => {
    it.scopedLive("a CRL signed by the CA lists the revoked serials", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const revoked = yield* pki.issueServer()
        const good = yield* pki.issueServer()
        const crl = yield* pki.crl({ revoked: [revoked, 0x77n] })
        assert.strictEqual(crl.number, 1)
        assert.deepStrictEqual(crl.revokedSerials, [revoked.serialNumber, "77"])
        assert.include(crl.pem, "-----BEGIN X509 CRL-----")

        const paths = yield* files({
          "ca.pem": pki.caPem,
          "crl.pem": crl.pem,
          "revoked.pem": revoked.pem,
          "good.pem": good.pem
        })
        const checked = yield* openssl("crl", "-in", paths["crl.pem"], "-CAfile", paths["ca.pem"], "-noout")
        assert.strictEqual(checked.code, 0, checked.stderr)
        assert.include(checked.stdout + checked.stderr, "verify OK")
        const crlText = yield* openssl("crl", "-in", paths["crl.pem"], "-noout", "-text")
        assert.include(crlText.stdout, `Serial Number: ${revoked.serialNumber.toUpperCase()}`)
        assert.include(crlText.stdout, "Serial Number: 77")
        assert.match(crlText.stdout, /CRL Number:\s*\n\s*1/)
        assert.match(crlText.stdout, /Authority Key Identifier/)
        assert.include(crlText.stdout, "Version 2")

        const crlCheck = ["-crl_check", "-CRLfile", paths["crl.pem"], "-CAfile", paths["ca.pem"]]
        const rejected = yield* openssl("verify", ...crlCheck, paths["revoked.pem"])
        assert.include(rejected.stdout + rejected.stderr, "certificate revoked")
        const accepted = yield* openssl("verify", ...crlCheck, paths["good.pem"])
        assert.strictEqual(accepted.code, 0, accepted.stdout + accepted.stderr)

        // a CRL from another CA does not verify against this one
        const other = yield* TestPki.make()
        const foreign = yield* other.crl()
        const foreignPaths = yield* files({ "crl.pem": foreign.pem })
        const wrong = yield* openssl("crl", "-in", foreignPaths["crl.pem"], "-CAfile", paths["ca.pem"], "-noout")
        assert.notInclude(wrong.stdout + wrong.stderr, "verify OK")
      }))

    it.scopedLive("CRL numbers count up; dates and intermediates", () =>
      Effect.gen(function*() {
        const now = new Date("2031-03-01T00:00:00Z")
        const pki = yield* TestPki.make({ now })
        const intermediate = yield* pki.intermediate()
        const leaf = yield* intermediate.issueServer()
        const first = yield* intermediate.crl()
        const second = yield* intermediate.crl({ revoked: [leaf] })
        const fixed = yield* intermediate.crl({ number: 42 })
        assert.deepStrictEqual([first.number, second.number, fixed.number], [1, 2, 42])
        assert.strictEqual(second.thisUpdate.getTime(), now.getTime() - 60_000)
        assert.strictEqual(second.nextUpdate.getTime(), second.thisUpdate.getTime() + 7 * DAY)
        const paths = yield* files({ "ca.pem": intermediate.ca.pem, "crl.pem": second.pem })
        const checked = yield* openssl("crl", "-in", paths["crl.pem"], "-CAfile", paths["ca.pem"], "-noout")
        assert.include(checked.stdout + checked.stderr, "verify OK")
      }))
  })

  describe("core objects", () => {
    it.scopedLive("Issued carries parsed certificates and keys", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const intermediate = yield* pki.intermediate()
        const server = yield* intermediate.issueServer({ dnsNames: ["a.test"], ipAddresses: ["10.0.0.1", "::1"] })
        assert.deepStrictEqual(server.certificate.dnsNames, ["a.test"])
        assert.deepStrictEqual(server.certificate.ipAddresses, ["10.0.0.1", "::1"])
        assert.strictEqual(server.certificate.serialNumber.replace(/^0+/, ""), server.serialNumber.replace(/^0+/, ""))
        assert.isFalse(server.certificate.isCa)
        assert.isTrue(pki.ca.certificate.isCa)
        assert.isTrue(pki.ca.certificate.isSelfIssued)
        assert.strictEqual(server.chain.length, 2)
        assert.isTrue(Certificate.isSame(server.chain[1], intermediate.ca.certificate))
        assert.strictEqual(server.certifiedKey.chain, server.chain)
        assert.strictEqual(server.key.algorithm, "EC")
        assert.deepStrictEqual(server.der, server.certificate.der)
      }))
  })

  describe("fixture layer and files", () => {
    layer(TestPki.layer())((it) => {
      it.effect("provides a server and a client certificate", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const server = new Crypto.X509Certificate(fixture.serverPem)
          assert.strictEqual(server.checkHost("localhost"), "localhost")
          assert.strictEqual(server.checkIP("127.0.0.1"), "127.0.0.1")
          assert.strictEqual(server.checkIP("::1"), "::1")
          assert.isTrue(server.verify(new Crypto.X509Certificate(fixture.caPem).publicKey))
          assert.include(new Crypto.X509Certificate(fixture.clientPem).subject, "CN=client")
          assert.strictEqual(fixture.keyPem, fixture.server.keyPem)
          assert.isTrue(Crypto.createPublicKey(fixture.keyPem).equals(server.publicKey))
          assert.deepStrictEqual(TestPki.nodeTlsOptions(fixture.server, fixture.pki), {
            cert: fixture.serverPem,
            key: fixture.keyPem,
            ca: fixture.caPem
          })
        }))
    })

    it.scopedLive("writeFiles writes the PEM pieces and removes them with the scope", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const intermediate = yield* pki.intermediate()
        const server = yield* intermediate.issueServer()
        const written = yield* Effect.scoped(
          Effect.gen(function*() {
            const paths = yield* TestPki.writeFiles(server, intermediate)
            assert.strictEqual(Fs.readFileSync(paths.caFile, "utf8"), pki.caPem)
            assert.strictEqual(Fs.readFileSync(paths.chainFile, "utf8"), server.chainPem)
            assert.strictEqual(Fs.readFileSync(paths.keyFile, "utf8"), server.keyPem)
            const result = yield* openssl(
              "verify",
              "-CAfile",
              paths.caFile,
              "-untrusted",
              paths.chainFile,
              paths.certFile
            )
            assert.strictEqual(result.code, 0, result.stdout + result.stderr)
            return paths
          })
        )
        assert.isFalse(Fs.existsSync(written.directory))
      }))
  })

  describe("a real handshake with node:tls", () => {
    const handshake = (
      serverOptions: Tls.TlsOptions,
      clientOptions: Tls.ConnectionOptions
    ) =>
      Effect.gen(function*() {
        const sockets = new Set<Net.Socket>()
        const server = yield* Effect.acquireRelease(
          Effect.async<Tls.Server>((resume) => {
            const s = Tls.createServer(serverOptions, (socket) => {
              socket.on("error", () => {})
              socket.end("hello")
            })
            s.on("connection", (socket) => {
              sockets.add(socket)
              socket.on("close", () => sockets.delete(socket))
            })
            s.on("tlsClientError", () => {})
            s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
          }),
          (s) =>
            Effect.async<void>((resume) => {
              for (const socket of sockets) socket.destroy()
              s.close(() => resume(Effect.void))
            })
        )
        const port = (server.address() as { port: number }).port
        return yield* Effect.async<{ authorized: boolean; error: string | undefined; data: string; peerCn: string }>(
          (resume) => {
            const socket = Tls.connect({ ...clientOptions, host: "127.0.0.1", port })
            let data = ""
            socket.on("secureConnect", () => {
              socket.on("data", (chunk) => data += chunk)
              socket.on("end", () => {
                const cn = socket.getPeerCertificate().subject?.CN
                resume(Effect.succeed({
                  authorized: socket.authorized,
                  error: socket.authorizationError?.toString(),
                  data,
                  peerCn: Array.isArray(cn) ? cn.join(",") : String(cn)
                }))
                socket.destroy()
              })
            })
            socket.on("error", (error) => {
              resume(Effect.succeed({ authorized: false, error: error.message, data, peerCn: "" }))
            })
            return Effect.sync(() => socket.destroy())
          }
        ).pipe(Effect.timeout("10 seconds"), Effect.orDie)
      })

    it.scopedLive("a client trusting caPem accepts the PKI's server, by name and by IP", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make({ keyType: "rsa-2048" })
        const intermediate = yield* pki.intermediate()
        const server = yield* intermediate.issueServer({ keyType: "rsa-2048" })
        const byName = yield* handshake(
          { cert: server.chainPem, key: server.keyPem },
          { ca: pki.caPem, servername: "localhost" }
        )
        assert.isTrue(byName.authorized, byName.error)
        assert.strictEqual(byName.data, "hello")
        assert.strictEqual(byName.peerCn, "localhost")
        const byIp = yield* handshake(
          { cert: server.chainPem, key: server.keyPem, minVersion: "TLSv1.2", maxVersion: "TLSv1.2" },
          { ca: pki.caPem, checkServerIdentity: (_host, cert) => Tls.checkServerIdentity("127.0.0.1", cert) }
        )
        assert.isTrue(byIp.authorized, byIp.error)
      }))

    it.scopedLive("mutual TLS with a client certificate, and rejections", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.makeFixture()
        const mutual = yield* handshake(
          { ...TestPki.nodeTlsOptions(fixture.server, fixture.pki), requestCert: true, rejectUnauthorized: true },
          { ca: fixture.caPem, servername: "localhost", cert: fixture.clientPem, key: fixture.clientKeyPem }
        )
        assert.isTrue(mutual.authorized, mutual.error)
        assert.strictEqual(mutual.data, "hello")

        const other = yield* TestPki.make()
        const untrusted = yield* handshake(
          { cert: fixture.serverPem, key: fixture.keyPem },
          { ca: other.caPem, servername: "localhost", rejectUnauthorized: false }
        )
        assert.isFalse(untrusted.authorized)
        assert.strictEqual(untrusted.error, "UNABLE_TO_VERIFY_LEAF_SIGNATURE")

        const expired = yield* fixture.pki.issueServer({ validity: "expired" })
        const expiredRun = yield* handshake(
          { cert: expired.chainPem, key: expired.keyPem },
          { ca: fixture.caPem, servername: "localhost", rejectUnauthorized: false }
        )
        assert.strictEqual(expiredRun.error, "CERT_HAS_EXPIRED")
      }))
  })
})

describe("TestPki options", () => {
  it.effect("bad options fail with TlsConfigError naming the field, never a defect", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const cases = [
        [pki.issueServer({ keyType: "rsa-512" as never }), ["keyType"]],
        [pki.issueServer({ ipAddresses: ["localhost"] }), ["ipAddresses", 0]],
        [pki.issue({ validity: "sometimes" as never }), ["validity"]],
        [pki.issueClient({ notAfter: new Date(Number.NaN) }), ["notAfter"]],
        [pki.issue({ serial: 0n }), ["serial"]],
        [pki.intermediate({ pathLength: -1 }), ["pathLength"]],
        [TestPki.make({ signatureHash: "md5" as never }), ["signatureHash"]]
      ] as const
      for (const [effect, path] of cases) {
        const error = yield* Effect.flip(effect as Effect.Effect<unknown, { readonly _tag: string }>)
        assert.strictEqual(error._tag, "TlsConfigError")
        assert.deepStrictEqual((error as unknown as { readonly path: ReadonlyArray<PropertyKey> }).path, path)
      }
    }))
})
