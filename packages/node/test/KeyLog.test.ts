/**
 * The key log: off by default; on through `NodeKeyLog.layerFile`, whose file lets `tshark`
 * (Debian's package, installed by `pnpm test`) decrypt a capture of the session on loopback,
 * and whose TLS 1.3 EXPORTER_SECRET derives (RFC 8446 §7.5) the value `exportKeyingMaterial`
 * returns.
 */
import * as KeyLog from "@effect-tls/core/KeyLog"
import * as TlsClient from "@effect-tls/core/TlsClient"
import * as TlsServer from "@effect-tls/core/TlsServer"
import * as TestPki from "@effect-tls/testkit/TestPki"
import * as TestTls from "@effect-tls/testkit/TestTls"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as NodeKeyLog from "../src/NodeKeyLog.js"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as Peer from "./interop/Peer.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-tls-keylog-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** RFC 8446 §7.1 HKDF-Expand-Label. */
const expandLabel = (hash: string, secret: Buffer, label: string, context: Buffer, length: number): Buffer => {
  const full = Buffer.from(`tls13 ${label}`, "latin1")
  const info = Buffer.concat([
    Buffer.from([length >> 8, length & 0xff, full.length]),
    full,
    Buffer.from([context.length]),
    context
  ])
  // HKDF-Expand (RFC 5869 §2.3)
  const blocks: Array<Buffer> = []
  let previous = Buffer.alloc(0)
  for (let i = 1; Buffer.concat(blocks).length < length; i++) {
    previous = Crypto.createHmac(hash, secret).update(Buffer.concat([previous, info, Buffer.from([i])])).digest()
    blocks.push(previous)
  }
  return Buffer.concat(blocks).subarray(0, length)
}

/** RFC 8446 §7.5 TLS-Exporter from the exporter master secret. */
const exporter = (hash: string, secret: Buffer, label: string, context: Buffer, length: number): Buffer => {
  const empty = Crypto.createHash(hash).update(Buffer.alloc(0)).digest()
  const derived = expandLabel(hash, secret, label, empty, empty.length)
  return expandLabel(hash, derived, "exporter", Crypto.createHash(hash).update(context).digest(), length)
}

const collecting = () => {
  const lines: Array<string> = []
  return { lines, layer: KeyLog.layer(KeyLog.make((line) => Effect.sync(() => lines.push(line)))) }
}

const env = Layer.merge(TestPki.layer(), NodeTlsBackend.layer)

layer(env, { excludeTestServices: true, timeout: 60_000 })("KeyLog", (it) => {
  describe("off by default", () => {
    it.scoped("the default KeyLog is disabled, and a disabled one is never called", () =>
      Effect.gen(function*() {
        assert.isFalse((yield* KeyLog.KeyLog).enabled)
        const lines: Array<string> = []
        const silent: KeyLog.KeyLogShape = { enabled: false, log: (line) => Effect.sync(() => lines.push(line)) }
        yield* Effect.scoped(TestTls.makePair()).pipe(Effect.provide(KeyLog.layer(silent)))
        assert.deepStrictEqual(lines, [])
      }))
  })

  describe("on", () => {
    it.scoped("TLS 1.3: the traffic secrets of both sides, and EXPORTER_SECRET derives exportKeyingMaterial", () =>
      Effect.gen(function*() {
        const { layer: logLayer, lines } = collecting()
        const pair = yield* TestTls.makePair({ client: { maxVersion: "TLSv1.3" } }).pipe(Effect.provide(logLayer))
        const labels = lines.map((line) => line.split(" ")[0])
        for (
          const label of [
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            "CLIENT_TRAFFIC_SECRET_0",
            "SERVER_TRAFFIC_SECRET_0",
            "EXPORTER_SECRET"
          ]
        ) {
          // once from the client, once from the server
          assert.strictEqual(labels.filter((l) => l === label).length, 2, label)
        }
        for (const line of lines) assert.match(line, /^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]{64,128}$/)
        const info = yield* pair.client.handshake
        assert.strictEqual(info.ciphersuiteName, "TLS_AES_256_GCM_SHA384")
        const secret = Buffer.from(lines.find((line) => line.startsWith("EXPORTER_SECRET"))!.split(" ")[2]!, "hex")
        const context = Buffer.from("effect-tls")
        const expected = exporter("sha384", secret, "EXPORTER-test", context, 48)
        const actual = yield* pair.client.exportKeyingMaterial(48, "EXPORTER-test", context)
        assert.strictEqual(Buffer.from(actual).toString("hex"), expected.toString("hex"))
        const binding = yield* pair.server.channelBinding("tls-exporter")
        assert.strictEqual(
          Buffer.from(binding).toString("hex"),
          exporter("sha384", secret, "EXPORTER-Channel-Binding", Buffer.alloc(0), 32).toString("hex")
        )
      }))

    it.scoped("TLS 1.2: a CLIENT_RANDOM line", () =>
      Effect.gen(function*() {
        const { layer: logLayer, lines } = collecting()
        yield* TestTls.makePair({ client: { maxVersion: "TLSv1.2" } }).pipe(Effect.provide(logLayer))
        assert.isAbove(lines.length, 0)
        for (const line of lines) assert.match(line, /^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$/)
      }))

    it.scoped("NodeKeyLog.layerFile: tshark decrypts a loopback capture with the file, and not without it", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const dir = yield* tempDir
        const keyFile = Path.join(dir, "keys.log")
        const capture = Path.join(dir, "capture.pcapng")
        const listener = yield* NodeTransport.listen({ host: "127.0.0.1", port: 0 })
        const port = listener.address.port
        yield* Effect.forkScoped(listener.run((transport) =>
          Effect.gen(function*() {
            const tls = yield* TlsServer.make(transport, { certificate: fixture.server.certifiedKey })
            yield* tls.stream.pipe(Stream.run(tls.sink))
            yield* tls.closeWrite
          }).pipe(Effect.scoped, Effect.ignore)
        ))
        // -P -l: a summary line per packet as it is written, so the test knows what was captured
        const tshark = yield* Peer.spawn("tshark", ["-i", "lo", "-f", `tcp port ${port}`, "-P", "-l", "-w", capture], {
          ready: /Capture started/,
          readyTimeout: "20 seconds"
        })
        const plaintext = "effect-tls key log plaintext 4711"
        // only the client logs its keys (the server, without the layer, asks for none)
        yield* Effect.scoped(Effect.gen(function*() {
          const client = yield* TlsClient.connect(
            yield* NodeTransport.connect({ host: "127.0.0.1", port }),
            { serverIdentity: "localhost", database: fixture.pki.database }
          )
          yield* client.write(new TextEncoder().encode(plaintext))
          yield* client.closeWrite
          yield* Stream.runDrain(client.stream)
        })).pipe(Effect.provide(NodeKeyLog.layerFile(keyFile)))
        // both FINs captured, then stop it (SIGTERM flushes the file)
        yield* tshark.waitFor(/FIN[\s\S]*FIN/, "20 seconds")
        yield* tshark.kill("SIGTERM")
        yield* tshark.exited("10 seconds")
        const mode = Fs.statSync(keyFile).mode & 0o777
        assert.strictEqual(mode, 0o600)
        assert.match(Fs.readFileSync(keyFile, "utf8"), /^CLIENT_TRAFFIC_SECRET_0 /m)
        const read = (args: ReadonlyArray<string>) =>
          Effect.scoped(Effect.gen(function*() {
            const peer = yield* Peer.spawn("tshark", [
              "-r",
              capture,
              "-Y",
              "data",
              "-T",
              "fields",
              "-e",
              "data.data",
              ...args
            ])
            yield* peer.exited("20 seconds")
            return yield* peer.stdout
          }))
        const hex = Buffer.from(plaintext).toString("hex")
        const decrypted = yield* read(["-o", `tls.keylog_file:${keyFile}`])
        // the client's bytes and the server's echo
        assert.strictEqual(
          decrypted.split("\n").filter((line) => line.trim() === hex).length,
          2,
          `${decrypted}\n${yield* tshark.output}`
        )
        const opaque = yield* read([])
        assert.isFalse(opaque.includes(hex))
      }))
  })
})
