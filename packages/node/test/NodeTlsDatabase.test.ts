import * as Certificate from "@effect-tls/core/Certificate"
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import * as TlsDatabase from "@effect-tls/core/TlsDatabase"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as tls from "node:tls"
import { fileURLToPath } from "node:url"
import * as NodeTlsDatabase from "../src/NodeTlsDatabase.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const limbo = path.resolve(here, "../../../vendor/x509-limbo/limbo.json")

const withTempCa = <A, E>(f: (dir: string, caFile: string, pem: string) => Effect.Effect<A, E>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-tls-db-"))),
    (dir) => {
      const caFile = path.join(dir, "ca.pem")
      execFileSync("openssl", [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=effect-tls extra CA",
        "-keyout",
        path.join(dir, "key.pem"),
        "-out",
        caFile,
        "-days",
        "2"
      ], { timeout: 10_000, stdio: "ignore" })
      return f(dir, caFile, fs.readFileSync(caFile, "utf8"))
    },
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

describe("NodeTlsDatabase", () => {
  it.effect("system: Node's bundled roots, marked as the system store", () =>
    Effect.gen(function*() {
      const database = yield* NodeTlsDatabase.makeSystem({ env: {} })
      assert.isTrue(database.isSystem)
      assert.strictEqual(database.anchors.length, new Set(tls.rootCertificates).size)
      assert.isTrue(database.anchors.every((anchor) => anchor.isCa || anchor.isSelfIssued))
    }))

  it.effect("system verifies a real web chain (limbo online::google.com) at its validation time", () =>
    Effect.gen(function*() {
      const corpus = JSON.parse(fs.readFileSync(limbo, "utf8")) as {
        readonly testcases: ReadonlyArray<{
          readonly id: string
          readonly peer_certificate: string
          readonly untrusted_intermediates: ReadonlyArray<string>
          readonly validation_time: string
          readonly expected_peer_name: { readonly value: string }
        }>
      }
      const tc = corpus.testcases.find((t) => t.id === "online::google.com")!
      const chain = yield* Certificate.fromPem([tc.peer_certificate, ...tc.untrusted_intermediates].join("\n"))
      const database = yield* NodeTlsDatabase.makeSystem({ env: {} })
      const flags = yield* database.verifyChain(chain, {
        purpose: "server",
        identity: tc.expected_peer_name.value,
        time: new Date(tc.validation_time)
      })
      assert.strictEqual(CertificateFlags.format(flags), "none")
      const wrongHost = yield* database.verifyChain(chain, {
        purpose: "server",
        identity: "example.org",
        time: new Date(tc.validation_time)
      })
      assert.deepStrictEqual(CertificateFlags.toArray(wrongHost), ["BadIdentity"])
      const empty = yield* NodeTlsDatabase.makeSystem({ env: {}, bundled: false })
      const unknown = yield* empty.verifyChain(chain, { purpose: "server", time: new Date(tc.validation_time) })
      assert.deepStrictEqual(CertificateFlags.toArray(unknown), ["UnknownCa"])
    }))

  it.effect("NODE_EXTRA_CA_CERTS and SSL_CERT_FILE add anchors; unreadable files are skipped", () =>
    withTempCa((dir, caFile, pem) =>
      Effect.gen(function*() {
        const [ca] = yield* Certificate.fromPem(pem)
        const extra = yield* NodeTlsDatabase.makeSystem({ env: { NODE_EXTRA_CA_CERTS: caFile }, bundled: false })
        assert.strictEqual(extra.anchors.length, 1)
        assert.isTrue(Certificate.isSame(extra.anchors[0], ca))
        const ssl = yield* NodeTlsDatabase.makeSystem({
          env: { SSL_CERT_FILE: caFile, NODE_EXTRA_CA_CERTS: path.join(dir, "missing.pem") }
        })
        assert.isTrue(ssl.anchors.some((anchor) => Certificate.isSame(anchor, ca)))
        assert.strictEqual(ssl.anchors.length, new Set(tls.rootCertificates).size + 1)
      })
    ))

  it.effect("fromFile reads anchors; a missing file fails with NotFound", () =>
    withTempCa((dir, caFile, pem) =>
      Effect.gen(function*() {
        const database = yield* NodeTlsDatabase.fromFile(caFile)
        assert.isFalse(database.isSystem)
        const [ca] = yield* Certificate.fromPem(pem)
        // the self-signed CA is trusted as itself
        const flags = yield* database.verifyChain([ca], { purpose: "server" })
        assert.isTrue(database.anchors.length === 1 && Certificate.isSame(database.anchors[0], ca))
        assert.isFalse(CertificateFlags.has(flags, "UnknownCa"))
        const missing = yield* Effect.flip(NodeTlsDatabase.fromFile(path.join(dir, "nope.pem")))
        assert.strictEqual(missing.reason, "NotFound")
        const viaLayer = yield* TlsDatabase.TlsDatabase.pipe(Effect.provide(NodeTlsDatabase.layerFromFile(caFile)))
        assert.strictEqual(viaLayer.anchors.length, 1)
      })
    ))
})
