/**
 * The engine's own identity check (`handshakeReport.ts`) hands node's `tls.checkServerIdentity`
 * only what it reads of the leaf (`peerChain.identityFields`, the subject only when the check may
 * fall back to its CN): its verdict must be node's own on the full legacy certificate object.
 */
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { X509Certificate } from "node:crypto"
import * as tls from "node:tls"
import { identityFields } from "../src/internal/peerChain.js"

describe("peer chain", () => {
  it.effect("identityFields gives tls.checkServerIdentity node's own verdict (SAN names, CN fallback, IPs)", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const certificates = [
        yield* pki.issueServer({ dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] }),
        yield* pki.issueServer({ dnsNames: ["*.example.com", "example.org"] }),
        // no SAN DNS name: node falls back to the subject's CN
        yield* pki.issueServer({ commonName: "cn.example.com", dnsNames: [], ipAddresses: ["10.0.0.1"] }),
        yield* pki.issueServer({ commonName: "cn.example.com", dnsNames: [] }),
        yield* pki.issueServer({ subjectAttributes: [["CN", "a.example.com"], ["CN", "b.example.com"]], dnsNames: [] })
      ]
      const hosts = [
        "localhost",
        "127.0.0.1",
        "10.0.0.1",
        "::1",
        "a.example.com",
        "b.example.com",
        "example.org",
        "x.y.example.com",
        "cn.example.com",
        "other.example.com"
      ]
      let cnFallbacks = 0
      for (const issued of certificates) {
        const x509 = new X509Certificate(issued.pem)
        const legacy = x509.toLegacyObject()
        for (const host of hosts) {
          const expected = tls.checkServerIdentity(host, legacy) === undefined
          const got = tls.checkServerIdentity(host, identityFields(x509, host)) === undefined
          assert.strictEqual(got, expected, `${host} against ${x509.subject} / ${x509.subjectAltName}`)
          if (expected && x509.subjectAltName?.includes("DNS:") !== true) cnFallbacks++
        }
      }
      // (the CN cases were reached: a CN-only certificate matched its name)
      assert.isAbove(cnFallbacks, 0)
    }))
})
