import { assert, describe, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as fc from "fast-check"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { Duplex } from "node:stream"
import * as Tls from "node:tls"
import { type AcceptedCasResult, makeAcceptedCasSniffer } from "../src/internal/acceptedCas.js"
import { fixedTls13Suites, keylogAfterSecure, unhonouredCiphers } from "../src/internal/runtime.js"

// ---- test PKI (generated at test time with the openssl CLI, removed afterwards) --------------------

interface Pki {
  readonly dir: string
  readonly caA: string
  readonly caB: string
  readonly serverKey: string
  readonly serverCert: string
  readonly files: { readonly cas: string; readonly key: string; readonly cert: string }
}

const openssl = (args: ReadonlyArray<string>, cwd: string) =>
  ChildProcess.execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 })

const makePki = (): Pki => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "acceptedcas-"))
  const selfSigned = (name: string, subject: string) =>
    openssl([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-subj",
      subject,
      "-days",
      "2"
    ], dir)
  selfSigned("caA", "/C=FR/O=effect-tls tests/CN=Accepted CA A")
  selfSigned("caB", "/O=effect-tls tests/OU=Second/CN=Accepted CA B")
  selfSigned("server", "/CN=localhost")
  const read = (file: string) => Fs.readFileSync(Path.join(dir, file), "latin1")
  const caA = read("caA.pem")
  const caB = read("caB.pem")
  Fs.writeFileSync(Path.join(dir, "cas.pem"), caA + caB)
  return {
    dir,
    caA,
    caB,
    serverKey: read("server.key"),
    serverCert: read("server.pem"),
    files: {
      cas: Path.join(dir, "cas.pem"),
      key: Path.join(dir, "server.key"),
      cert: Path.join(dir, "server.pem")
    }
  }
}

class TestPki extends Context.Tag("test/AcceptedCas/TestPki")<TestPki, Pki>() {}

/** One PKI for the whole file, its directory removed at the end. */
const TestPkiLive = Layer.scoped(
  TestPki,
  Effect.acquireRelease(
    Effect.sync(makePki),
    (pki) => Effect.sync(() => Fs.rmSync(pki.dir, { recursive: true, force: true }))
  )
)

/** The raw DER of a certificate's subject Name (TBSCertificate's sixth field). */
const subjectDer = (pem: string): Uint8Array => {
  const der = new Crypto.X509Certificate(pem).raw
  const tlv = (offset: number) => {
    let length = der[offset + 1]
    let header = 2
    if (length & 0x80) {
      const n = length & 0x7f
      length = 0
      for (let i = 0; i < n; i++) length = length * 256 + der[offset + 2 + i]
      header += n
    }
    return { start: offset, content: offset + header, end: offset + header + length }
  }
  const tbs = tlv(tlv(0).content)
  let field = tlv(tbs.content)
  if (der[field.start] === 0xa0) field = tlv(field.end) // [0] version
  for (let i = 0; i < 4; i++) field = tlv(field.end) // serial, signature, issuer, validity -> subject
  return der.subarray(field.start, field.end)
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")

const assertNames = (result: AcceptedCasResult, expected: ReadonlyArray<string>) => {
  assert.strictEqual(result.state, "done")
  assert.isTrue(result.certificateRequested)
  assert.deepStrictEqual(result.acceptedCas.map(hex), expected.map((pem) => hex(subjectDer(pem))))
}

// ---- handshakes with a recording of what the client side saw ----------------------------------------

interface Recording {
  /** server -> client bytes, as the chunks arrived */
  readonly chunks: ReadonlyArray<Uint8Array>
  /** keylog lines and how many server chunks had arrived when each was emitted */
  readonly keylog: ReadonlyArray<{ readonly at: number; readonly line: Uint8Array }>
  /** the live sniffer's result at secureConnect (or at the client's error) */
  readonly result: AcceptedCasResult
  readonly bufferedAtEnd: number
  readonly protocol: string | null
  readonly cipher: string
  readonly reused: boolean
  readonly session: Buffer | undefined
  /** the client's error, if the handshake or connection failed */
  readonly error: string | undefined
}

/** A client-side byte pipe: `raw` carries bytes both ways, `onServerBytes` sees the server's first. */
type Wire = (onServerBytes: (chunk: Uint8Array) => void) => Effect.Effect<Duplex, Error, Scope.Scope>

/** node:tls server over an in-process Duplex pair (no socket). */
const pairWire = (serverOptions: Tls.TlsOptions): Wire => (onServerBytes) =>
  Effect.suspend(() => {
    const server = Tls.createServer(serverOptions)
    server.on("tlsClientError", () => {})
    return serverWireOf(server)(onServerBytes)
  })

/** TCP to 127.0.0.1:port through a Duplex bridge. */
const tcpWire = (port: number): Wire => (onServerBytes) =>
  Effect.acquireRelease(
    Effect.async<Net.Socket, Error>((resume) => {
      const socket = Net.connect({ host: "127.0.0.1", port })
      socket.once("connect", () => resume(Effect.succeed(socket)))
      socket.once("error", (error) => resume(Effect.fail(error)))
      return Effect.sync(() => socket.destroy())
    }),
    (socket) => Effect.sync(() => socket.destroy())
  ).pipe(
    Effect.map((socket) => {
      const bridge: Duplex = new Duplex({
        read() {},
        write(chunk: Buffer, _encoding, callback) {
          socket.write(chunk, () => callback())
        },
        final(callback) {
          socket.end()
          callback()
        },
        destroy(error, callback) {
          socket.destroy()
          callback(error)
        }
      })
      socket.on("data", (chunk: Buffer) => {
        onServerBytes(chunk)
        bridge.push(chunk)
      })
      socket.on("end", () => bridge.push(null))
      socket.on("error", (error) => bridge.destroy(error))
      return bridge
    })
  )

const handshake = (wire: Wire, clientOptions: Tls.ConnectionOptions = {}) =>
  Effect.gen(function*() {
    const sniffer = makeAcceptedCasSniffer()
    const chunks: Array<Uint8Array> = []
    const keylog: Array<{ at: number; line: Uint8Array }> = []
    const raw = yield* wire((chunk) => {
      chunks.push(Uint8Array.from(chunk))
      sniffer.onServerBytes(chunk)
    })
    const done = yield* Deferred.make<Recording>()
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const client = Tls.connect({
          socket: raw,
          rejectUnauthorized: false,
          servername: "localhost",
          ...clientOptions
        })
        client.on("keylog", (line) => {
          keylog.push({ at: chunks.length, line: Uint8Array.from(line) })
          sniffer.onKeylog(line)
        })
        // the socket is queried in secureConnect only: on Node 20, getProtocol/getCipher/getSession/
        // isSessionReused in a 'close' handler after a failed handshake over a JS Duplex crash the process
        let session: Buffer | undefined
        let info = { protocol: null as string | null, cipher: "", reused: false }
        let result: AcceptedCasResult | undefined
        let finished = false
        let error: string | undefined
        const finish = () => {
          if (finished) return
          finished = true
          Deferred.unsafeDone(
            done,
            Exit.succeed({
              chunks,
              keylog,
              result: result ?? sniffer.result(),
              bufferedAtEnd: sniffer.bufferedBytes(),
              ...info,
              session,
              error
            })
          )
        }
        // (the sniffer's result is read at `settle`, which may come a turn after a ticket)
        let settled = false
        client.on("session", (s: Buffer) => {
          session = s
          if (info.protocol === "TLSv1.3" && settled) finish()
        })
        client.once("secureConnect", () => {
          info = {
            protocol: client.getProtocol(),
            cipher: client.getCipher()?.standardName ?? "",
            reused: client.isSessionReused()
          }
          if (info.protocol !== "TLSv1.3") session = client.getSession()
          // what the engine reads: the sniffer has settled by secureConnect (on Bun, whose client
          // logs its keys after secureConnect, a turn later, as the engine reads it)
          const settle = () => {
            result ??= sniffer.result()
            settled = true
            // TLS 1.3 tickets follow the handshake: wait for one (bounded) so resumption can be tested
            if (info.protocol !== "TLSv1.3" || info.reused || session !== undefined) finish()
            else setTimeout(finish, 1000).unref()
          }
          if (keylogAfterSecure) setImmediate(settle)
          else settle()
        })
        client.once("error", (e) => {
          error = e.message
          result ??= sniffer.result()
          finish()
        })
        client.once("close", finish)
        return client
      }),
      (client) => Effect.sync(() => client.destroy())
    )
    return yield* Deferred.await(done)
  }).pipe(Effect.scoped, Effect.timeoutFail({ duration: Duration.seconds(15), onTimeout: () => new Error("timeout") }))

/** Replays a recording into a fresh sniffer with given chunk boundaries and keylog position. */
const replay = (
  recording: Recording,
  cuts: ReadonlyArray<number>,
  keylogAt: number
) => {
  const bytes = Buffer.concat(recording.chunks)
  const sniffer = makeAcceptedCasSniffer()
  const points = [...new Set([0, ...cuts.map((c) => c % (bytes.length + 1)), bytes.length])].sort((a, b) => a - b)
  const feedKeys = () => recording.keylog.forEach(({ line }) => sniffer.onKeylog(line))
  let keysFed = false
  for (let i = 0; i + 1 < points.length; i++) {
    if (!keysFed && points[i] >= keylogAt) {
      feedKeys()
      keysFed = true
    }
    sniffer.onServerBytes(bytes.subarray(points[i], points[i + 1]))
  }
  if (!keysFed) feedKeys()
  return sniffer
}

/** Content types of the complete records in `bytes`. */
const recordTypes = (bytes: Buffer): Array<number> => {
  const types: Array<number> = []
  for (let offset = 0; offset + 5 <= bytes.length; offset += 5 + bytes.readUInt16BE(offset + 3)) {
    if (offset + 5 + bytes.readUInt16BE(offset + 3) <= bytes.length) types.push(bytes[offset])
  }
  return types
}

const tls13Suites = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "TLS_AES_128_CCM_SHA256",
  "TLS_AES_128_CCM_8_SHA256"
] as const

const hrrRandom = Buffer.from("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c", "hex")

const serverOptions = (pki: Pki, extra: Tls.TlsOptions = {}): Tls.TlsOptions => ({
  key: pki.serverKey,
  cert: pki.serverCert,
  requestCert: true,
  rejectUnauthorized: false,
  ca: [pki.caA, pki.caB],
  ...extra
})

// live services (real clock): real handshakes, sockets and a child process, each bounded by a timeout
layer(TestPkiLive, { excludeTestServices: true })("AcceptedCas sniffer", (it) => {
  describe("node:tls server", () => {
    it.scoped("TLS 1.2: the CertificateRequest's CA names, in order", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki
        const rec = yield* handshake(pairWire(serverOptions(pki, { maxVersion: "TLSv1.2" })))
        assert.strictEqual(rec.protocol, "TLSv1.2")
        assertNames(rec.result, [pki.caA, pki.caB])
        assert.strictEqual(rec.bufferedAtEnd, 0)
        assert.include(Buffer.from(rec.result.acceptedCas[0]).toString("latin1"), "Accepted CA A")
        // settled: later bytes (even garbage) and keys change nothing, dispose keeps the answer
        const sniffer = replay(rec, [], 0)
        const settled = sniffer.result()
        sniffer.onServerBytes(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))
        sniffer.onKeylog("SERVER_HANDSHAKE_TRAFFIC_SECRET nonsense")
        sniffer.dispose()
        assert.strictEqual(sniffer.result(), settled)
        assert.strictEqual(sniffer.bufferedBytes(), 0)
      }))

    // Each TLS 1.3 suite, chosen through `ciphers` where node:tls honours TLS 1.3 names there
    // (Node: a node:tls server over the Duplex pair); elsewhere by the peer, an openssl s_server
    // offering that suite alone, to a client offering its runtime's fixed suites (Bun's BoringSSL
    // ignores them in `ciphers`, on both sides). A suite the runtime cannot offer at all (Bun: the
    // CCM suites) is refused typed by the engine, and a raw handshake with such a peer fails.
    for (const suite of tls13Suites) {
      const offDefault = suite.includes("CCM") ? " (off by default, enabled on both sides)" : ""
      it.scoped(`TLS 1.3 ${suite}${offDefault}: decrypted CertificateRequest, ready at secureConnect`, () =>
        Effect.gen(function*() {
          const pki = yield* TestPki
          if (fixedTls13Suites !== undefined && !fixedTls13Suites.includes(suite)) {
            // the engine refuses the setting (layer construction fails TlsGenericError Misc with this)
            assert.match(unhonouredCiphers(suite, undefined) ?? "", /ignores TLS 1\.3 suites in `ciphers`/)
            const port = yield* sServer(pki, ["-tls1_3", "-ciphersuites", suite])
            const rec = yield* handshake(tcpWire(port), { ciphers: suite })
            assert.isNull(rec.protocol, "no handshake")
            // (BoringSSL: HANDSHAKE_FAILURE; Deno: "received fatal alert: HandshakeFailure")
            assert.match(rec.error ?? "", /HANDSHAKE_?FAILURE/i, "the peer found no shared suite")
            return
          }
          const rec = fixedTls13Suites === undefined
            ? yield* handshake(pairWire(serverOptions(pki, offDefault ? { ciphers: suite } : {})), { ciphers: suite })
            : yield* handshake(tcpWire(yield* sServer(pki, ["-tls1_3", "-ciphersuites", suite])))
          assert.strictEqual(rec.protocol, "TLSv1.3")
          assert.strictEqual(rec.cipher, suite)
          assertNames(rec.result, [pki.caA, pki.caB])
          assert.strictEqual(rec.bufferedAtEnd, 0)
          // the key arrived after encrypted records it opens (they were buffered until then)
          const key = rec.keylog.find(({ line }) => Buffer.from(line).toString().startsWith("SERVER_HANDSHAKE"))
          assert.isDefined(key)
          assert.include(recordTypes(Buffer.concat(rec.chunks.slice(0, key!.at))), 23)
        }))
    }

    for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
      it.scoped(`${maxVersion}: server without ca sends an empty list`, () =>
        Effect.gen(function*() {
          const pki = yield* TestPki
          const { ca: _, ...options } = serverOptions(pki, { maxVersion })
          const rec = yield* handshake(pairWire(options))
          assert.strictEqual(rec.protocol, maxVersion)
          assert.deepStrictEqual(rec.result, { state: "done", certificateRequested: true, acceptedCas: [] })
        }))

      it.scoped(`${maxVersion}: server without requestCert requests nothing`, () =>
        Effect.gen(function*() {
          const pki = yield* TestPki
          const rec = yield* handshake(pairWire(serverOptions(pki, { maxVersion, requestCert: false })))
          assert.strictEqual(rec.protocol, maxVersion)
          assert.deepStrictEqual(rec.result, { state: "none", certificateRequested: false, acceptedCas: [] })
          assert.strictEqual(rec.bufferedAtEnd, 0)
        }))
    }

    for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
      it.scoped(`${maxVersion}: a resumed session has no CertificateRequest`, () =>
        Effect.gen(function*() {
          const pki = yield* TestPki
          // one server (one ticket key) for both connections
          const options = serverOptions(pki, { maxVersion })
          const server = Tls.createServer(options)
          server.on("tlsClientError", () => {})
          // (a Bun server sends its TLS 1.3 tickets only with its first data)
          server.on("secureConnection", (socket) => {
            socket.on("error", () => {})
            socket.write("x")
          })
          const first = yield* handshake(serverWireOf(server))
          assertNames(first.result, [pki.caA, pki.caB])
          assert.isDefined(first.session)
          const second = yield* handshake(serverWireOf(server), { session: first.session! })
          assert.isTrue(second.reused)
          assert.strictEqual(second.protocol, maxVersion)
          assert.deepStrictEqual(second.result, { state: "none", certificateRequested: false, acceptedCas: [] })
        }))
    }

    it.scoped("TLS 1.3 HelloRetryRequest", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki
        const rec = yield* handshake(pairWire(serverOptions(pki, { ecdhCurve: "P-256" })), {
          ecdhCurve: "X25519:P-256"
        })
        assert.strictEqual(rec.protocol, "TLSv1.3")
        assert.isTrue(Buffer.concat(rec.chunks).includes(hrrRandom), "the server sent a HelloRetryRequest")
        assertNames(rec.result, [pki.caA, pki.caB])
      }))

    it.scoped("TLS 1.3: server requiring a certificate the client lacks (CertificateRequired)", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki
        const rec = yield* handshake(pairWire(serverOptions(pki, { rejectUnauthorized: true })))
        assert.strictEqual(rec.protocol, "TLSv1.3")
        assertNames(rec.result, [pki.caA, pki.caB])
      }))
  })

  describe("openssl s_server -Verify 1 -CAfile", () => {
    for (const version of ["-tls1_2", "-tls1_3"] as const) {
      it.scoped(`${version}: CA names from the CAfile, in order`, () =>
        Effect.gen(function*() {
          const pki = yield* TestPki
          const port = yield* sServer(pki, [version])
          const rec = yield* handshake(tcpWire(port))
          // the client has no certificate: s_server rejects it (TLS 1.2 before, TLS 1.3 after secureConnect)
          // (BoringSSL, Bun: SSLV3_ALERT_HANDSHAKE_FAILURE)
          assert.match(rec.error ?? "", /alert/i)
          if (version === "-tls1_3") assert.strictEqual(rec.protocol, "TLSv1.3")
          assertNames(rec.result, [pki.caA, pki.caB])
        }))
    }
  })

  describe("properties", () => {
    for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
      it.scoped(`${maxVersion}: any chunking and keylog timing of a recorded handshake gives the same result`, () =>
        Effect.gen(function*() {
          const pki = yield* TestPki
          const rec = yield* handshake(pairWire(serverOptions(pki, { maxVersion })))
          assertNames(rec.result, [pki.caA, pki.caB])
          const total = Buffer.concat(rec.chunks).length
          yield* Effect.sync(() =>
            fc.assert(
              fc.property(
                fc.array(fc.nat(total), { maxLength: 40 }),
                fc.nat(total),
                (cuts, keylogAt) => {
                  const sniffer = replay(rec, cuts, keylogAt)
                  assert.deepStrictEqual(sniffer.result(), rec.result)
                  assert.strictEqual(sniffer.bufferedBytes(), 0)
                }
              ),
              { numRuns: 150 }
            )
          )
          // byte by byte, key last
          assert.deepStrictEqual(replay(rec, Array.from({ length: total }, (_, i) => i), total).result(), rec.result)
        }))
    }

    it.scoped("mutated handshakes and garbage never throw and stay bounded", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki
        const rec13 = yield* handshake(pairWire(serverOptions(pki)))
        const rec12 = yield* handshake(pairWire(serverOptions(pki, { maxVersion: "TLSv1.2" })))
        const cap = 4096
        const keyline = rec13.keylog.map(({ line }) => line)
        const run = (chunks: ReadonlyArray<Uint8Array>, lines: ReadonlyArray<Uint8Array | string>) => {
          const sniffer = makeAcceptedCasSniffer({ maxBufferedBytes: cap })
          for (const chunk of chunks) {
            sniffer.onServerBytes(chunk)
            assert.isAtMost(sniffer.bufferedBytes(), cap)
          }
          for (const line of lines) sniffer.onKeylog(line)
          const result = sniffer.result()
          assert.include(["pending", "done", "none", "failed"], result.state)
          if (result.state !== "pending") assert.strictEqual(sniffer.bufferedBytes(), 0)
          return result
        }
        yield* Effect.sync(() => {
          // random bytes, random keylog lines
          fc.assert(
            fc.property(
              fc.array(fc.uint8Array({ maxLength: 2000 }), { maxLength: 20 }),
              fc.array(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 200 })), { maxLength: 3 }),
              (chunks, lines) => {
                run(chunks, lines)
              }
            ),
            { numRuns: 300 }
          )
          // plausible record headers with random bodies
          const record = fc.tuple(fc.integer({ min: 20, max: 23 }), fc.uint8Array({ maxLength: 600 })).map(
            ([type, body]) => Buffer.concat([Buffer.from([type, 3, 3, body.length >> 8, body.length & 255]), body])
          )
          fc.assert(
            fc.property(fc.array(record, { maxLength: 30 }), (records) => {
              run(records, keyline)
            }),
            {
              numRuns: 300
            }
          )
          // real handshakes with flipped bytes
          for (const rec of [rec12, rec13]) {
            const bytes = Buffer.concat(rec.chunks)
            fc.assert(
              fc.property(
                fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 })), {
                  minLength: 1,
                  maxLength: 4
                }),
                fc.array(fc.nat(bytes.length), { maxLength: 10 }),
                (flips, cuts) => {
                  const mutated = Buffer.from(bytes)
                  for (const [at, x] of flips) mutated[at] ^= x
                  const points = [0, ...cuts.sort((a, b) => a - b), bytes.length]
                  const chunks = points.slice(1).map((p, i) => mutated.subarray(points[i], p))
                  const result = run(chunks, rec.keylog.map(({ line }) => line))
                  // a flip either breaks the sniffer or is in a part it does not read
                  if (result.state === "done") assert.isTrue(result.certificateRequested)
                }
              ),
              { numRuns: 300 }
            )
          }
          // a flood of well-formed but endless handshake data is abandoned
          const sniffer = makeAcceptedCasSniffer()
          const hello = Buffer.concat(rec12.chunks).subarray(0, 5 + Buffer.concat(rec12.chunks).readUInt16BE(3))
          sniffer.onServerBytes(hello)
          const filler = Buffer.alloc(5 + 16384)
          filler.set([22, 3, 3, 0x40, 0x00])
          // a Certificate message announcing 16 MB
          sniffer.onServerBytes(Buffer.from([22, 3, 3, 0, 4, 11, 0xff, 0xff, 0xff]))
          for (let i = 0; i < 100 && sniffer.result().state === "pending"; i++) sniffer.onServerBytes(filler)
          assert.strictEqual(sniffer.result().state, "failed")
          assert.strictEqual(sniffer.bufferedBytes(), 0)
        })
      }))

    it("a sniffer disposed before the answer settles as failed and drops its buffers", () => {
      const sniffer = makeAcceptedCasSniffer()
      sniffer.onServerBytes(new Uint8Array([22, 3, 3, 0, 100, 2, 0, 0]))
      assert.isAbove(sniffer.bufferedBytes(), 0)
      assert.strictEqual(sniffer.result().state, "pending")
      sniffer.dispose()
      assert.deepStrictEqual(sniffer.result(), { state: "failed", certificateRequested: false, acceptedCas: [] })
      assert.strictEqual(sniffer.bufferedBytes(), 0)
    })

    it("keylog lines other than the server handshake secret are ignored; malformed ones fail", () => {
      const sniffer = makeAcceptedCasSniffer()
      sniffer.onKeylog("CLIENT_HANDSHAKE_TRAFFIC_SECRET " + "00".repeat(32) + " " + "11".repeat(32) + "\n")
      sniffer.onKeylog("# comment\n")
      assert.strictEqual(sniffer.result().state, "pending")
      sniffer.onKeylog("SERVER_HANDSHAKE_TRAFFIC_SECRET " + "00".repeat(32) + " xyz\n")
      assert.strictEqual(sniffer.result().state, "failed")
    })
  })
})

/** A wire to an existing (non-listening) tls.Server, shared across connections. */
const serverWireOf = (server: Tls.Server): Wire => (onServerBytes) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      // eslint-disable-next-line prefer-const
      let clientEnd: Duplex
      const serverEnd: Duplex = new Duplex({
        read() {},
        write(chunk: Buffer, _encoding, callback) {
          onServerBytes(chunk)
          clientEnd.push(chunk)
          callback()
        },
        final(callback) {
          clientEnd.push(null)
          callback()
        },
        destroy(error, callback) {
          if (!clientEnd.destroyed) clientEnd.push(null)
          callback(error)
        }
      })
      clientEnd = new Duplex({
        read() {},
        write(chunk: Buffer, _encoding, callback) {
          serverEnd.push(chunk)
          callback()
        },
        final(callback) {
          serverEnd.push(null)
          callback()
        }
      })
      server.emit("connection", serverEnd)
      return { clientEnd, serverEnd }
    }),
    ({ clientEnd, serverEnd }) =>
      Effect.sync(() => {
        clientEnd.destroy()
        serverEnd.destroy()
      })
  ).pipe(Effect.map(({ clientEnd }) => clientEnd))

/** Spawns `openssl s_server -Verify 1` on 127.0.0.1 (one connection, `args` added), returns its port; stopped by PID on scope close. */
const sServer = (pki: Pki, args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      // under coreutils `timeout`: bounded even if this process dies before the finalizer runs
      ChildProcess.spawn("timeout", [
        "30",
        "openssl",
        "s_server",
        "-accept",
        "127.0.0.1:0",
        "-naccept",
        "1",
        ...args,
        "-cert",
        pki.files.cert,
        "-key",
        pki.files.key,
        "-Verify",
        "1",
        "-CAfile",
        pki.files.cas
      ], { stdio: ["pipe", "pipe", "pipe"] })
    ),
    (child) =>
      Effect.sync(() => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          process.kill(child.pid, "SIGTERM") // coreutils timeout passes it on to s_server
        }
      })
  ).pipe(
    Effect.flatMap((child) =>
      Effect.async<number, Error>((resume) => {
        let out = ""
        const onData = (data: Buffer) => {
          out += data.toString()
          const match = /ACCEPT\s+\S*:(\d+)/.exec(out)
          if (match !== null) resume(Effect.succeed(Number(match[1])))
        }
        child.stdout!.on("data", onData)
        child.stderr!.on("data", () => {})
        child.once("exit", (code) => resume(Effect.fail(new Error(`s_server exited (${code}): ${out}`))))
        return Effect.sync(() => child.stdout!.off("data", onData))
      })
    ),
    Effect.timeoutFail({ duration: Duration.seconds(10), onTimeout: () => new Error("s_server did not start") })
  )
