/**
 * The STARTTLS example (issue 10): our server and client over the memory pair and TCP, the
 * pipelined-plaintext injection refused on both sides, `openssl s_client -starttls smtp` and
 * `gnutls-cli --starttls-proto=smtp` against our server, our client against a STARTTLS server
 * that is not ours (Python's ssl module: OpenSSL 3.0's s_server has no -starttls).
 */
import * as StartTls from "@effect-tls/core/StartTls"
import type * as Transport from "@effect-tls/core/Transport"
import * as NodeTlsBackend from "@effect-tls/node/NodeTlsBackend"
import * as NodeTransport from "@effect-tls/node/NodeTransport"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, layer } from "@effect/vitest"
import type { Scope } from "effect"
import { Deferred, Effect, Exit, Fiber, Layer, Option, Schedule } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Smtp from "../src/smtp.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const pairs = {
  memory: MemoryTransport.pair(),
  tcp: NodeTransport.pairForTest
} as const satisfies Record<
  string,
  Effect.Effect<readonly [Transport.Transport, Transport.Transport], unknown, Scope.Scope>
>

const readAll = (transport: Transport.Transport) =>
  Effect.gen(function*() {
    let text = ""
    while (true) {
      const chunk = yield* Effect.either(transport.read)
      if (chunk._tag === "Left" || Option.isNone(chunk.right)) return text
      text += decoder.decode(chunk.right.value)
    }
  })

/** Runs a command (scoped: killed by PID when the scope closes); resolves with its output at exit. */
const run = (command: string, args: ReadonlyArray<string>, input?: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = ChildProcess.spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] })
      let output = ""
      child.stdout.on("data", (data) => (output += String(data)))
      child.stderr.on("data", (data) => (output += String(data)))
      child.on("error", (error) => (output += String(error)))
      const exited = new Promise<{ code: number | null; output: string }>((resolve) =>
        child.on("close", (code) => resolve({ code, output }))
      )
      if (input !== undefined) child.stdin.write(input)
      return { child, exited, output: () => output }
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
  )

/** Waits for a peer's session and exit, at most 20 s; a timeout fails with what the peer printed. */
const session = (
  sessions: Deferred.Deferred<ReadonlyArray<string>>,
  peer: { readonly exited: Promise<{ code: number | null; output: string }>; readonly output: () => string }
) =>
  Effect.all([Deferred.await(sessions), Effect.promise(() => peer.exited)]).pipe(
    Effect.timeoutFail({
      duration: "20 seconds",
      onTimeout: () => new Error(`no session in 20 s; the peer printed:\n${peer.output()}`)
    })
  )

layer(Layer.merge(TestPki.layer(), NodeTlsBackend.layer), { excludeTestServices: true, timeout: 60_000 })(
  "STARTTLS example",
  (it) => {
    for (const [name, pair] of Object.entries(pairs)) {
      describe(name, () => {
        it.scoped("client and server negotiate STARTTLS, then talk over TLS", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const [left, right] = yield* pair
            const server = yield* Effect.fork(Smtp.serve(right, fixture.server.certifiedKey))
            const answer = yield* Smtp.client(left, { serverIdentity: "localhost", database: fixture.pki.database })
            assert.deepStrictEqual(answer, ["250 localhost"])
            assert.deepStrictEqual(yield* Fiber.join(server), ["EHLO client.test", "QUIT"])
          }))

        it.scoped("server: a command pipelined after STARTTLS (same chunk) is refused, never run", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const [left, right] = yield* pair
            const server = yield* Effect.fork(Effect.exit(Smtp.serve(right, fixture.server.certifiedKey)))
            yield* left.write(encoder.encode("EHLO evil\r\n"))
            // the injection: STARTTLS and a command in one write
            yield* left.write(encoder.encode("STARTTLS\r\nMAIL FROM:<attacker@evil>\r\n"))
            const exit = yield* Fiber.join(server)
            assert.isTrue(Exit.isFailure(exit))
            const error = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
            assert.isTrue(StartTls.isStartTlsError(error), String(exit))
            if (StartTls.isStartTlsError(error)) {
              assert.strictEqual(error.reason, "PlaintextAfterCommand")
              assert.strictEqual(error.side, "server")
              assert.include(error.message, "MAIL FROM")
            }
          }))

        it.scoped("server: plaintext arriving after STARTTLS where the ClientHello belongs is refused", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const [left, right] = yield* pair
            const server = yield* Effect.fork(Effect.exit(Smtp.serve(right, fixture.server.certifiedKey)))
            yield* left.write(encoder.encode("STARTTLS\r\n"))
            const ready = yield* Effect.fork(readAll(left))
            yield* Effect.sleep("50 millis")
            yield* left.write(encoder.encode("RSET\r\n"))
            const exit = yield* Fiber.join(server)
            const error = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
            assert.isTrue(StartTls.isStartTlsError(error), String(exit))
            yield* Fiber.interrupt(ready)
          }))

        it.scoped("client: a reply injected after the server's 220 is refused", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const [left, right] = yield* pair
            // a fake server (a man in the middle) answering STARTTLS with a pipelined reply
            const fake = yield* Effect.fork(Effect.gen(function*() {
              yield* right.write(encoder.encode("220 fake ESMTP\r\n"))
              yield* StartTls.readLine(right)
              yield* right.write(encoder.encode("250-fake\r\n250 STARTTLS\r\n"))
              yield* StartTls.readLine(right)
              yield* right.write(encoder.encode("220 Ready\r\n250 injected\r\n"))
              yield* readAll(right)
            }))
            const result = yield* Effect.exit(
              Smtp.client(left, { serverIdentity: "localhost", database: fixture.pki.database })
            )
            const error = Exit.isFailure(result) && result.cause._tag === "Fail" ? result.cause.error : undefined
            assert.isTrue(StartTls.isStartTlsError(error), String(result))
            if (StartTls.isStartTlsError(error)) assert.strictEqual(error.side, "client")
            yield* Fiber.interrupt(fake)
          }))
      })
    }

    it.scoped("pipelinedPlaintext: discard drops the buffered plaintext and upgrades", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const [left, right] = yield* MemoryTransport.pair()
        const upgraded = yield* Deferred.make<ReadonlyArray<string>>()
        yield* Effect.fork(
          Effect.gen(function*() {
            yield* StartTls.readLine(right) // STARTTLS, with junk behind it
            yield* right.write(encoder.encode("220 Ready\r\n"))
            const conn = yield* StartTls.server(right, {
              certificate: fixture.server.certifiedKey,
              pipelinedPlaintext: "discard"
            })
            const first = yield* conn.read
            yield* Deferred.succeed(upgraded, Option.toArray(Option.map(first, (bytes) => decoder.decode(bytes))))
          }).pipe(Effect.scoped)
        )
        yield* left.write(encoder.encode("STARTTLS\r\nNOOP\r\n"))
        assert.deepStrictEqual(Option.getOrNull(yield* StartTls.readLine(left)), "220 Ready")
        const conn = yield* StartTls.client(left, { serverIdentity: "localhost", database: fixture.pki.database })
        yield* conn.write(encoder.encode("over TLS"))
        assert.deepStrictEqual(yield* Deferred.await(upgraded), ["over TLS"])
      }))

    describe("interop", () => {
      const tcpServer = Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const listener = yield* NodeTransport.listen({ port: 0 })
        const sessions = yield* Deferred.make<ReadonlyArray<string>>()
        yield* Effect.forkScoped(
          listener.run((transport) =>
            Effect.flatMap(Smtp.serve(transport, fixture.server.certifiedKey), (got) => Deferred.succeed(sessions, got))
          )
        )
        const files = yield* TestPki.writeFiles(fixture.server, fixture.pki)
        return { port: listener.address.port, sessions, files }
      })

      it.scoped("openssl s_client -starttls smtp against our server", () =>
        Effect.gen(function*() {
          const { files, port, sessions } = yield* tcpServer
          const peer = yield* run("openssl", [
            "s_client",
            "-starttls",
            "smtp",
            "-connect",
            `127.0.0.1:${port}`,
            "-CAfile",
            files.caFile,
            "-verify_return_error",
            "-verify_hostname",
            "localhost",
            "-crlf",
            "-quiet"
          ], "EHLO openssl.test\nQUIT\n")
          const [received, exited] = yield* session(sessions, peer)
          assert.deepStrictEqual(received, ["EHLO openssl.test", "QUIT"])
          assert.include(exited.output, "221 Bye")
        }))

      it.scoped("gnutls-cli --starttls-proto=smtp against our server", () =>
        Effect.gen(function*() {
          const { files, port, sessions } = yield* tcpServer
          // gnutls-cli runs its own dialogue first (waits for "220 ", EHLO 127.0.0.1, waits for a
          // "250 " line, STARTTLS, waits for "220 "), then sends our input over TLS. No --crlf: gnutls-cli
          // 3.7.9 replaces only the first LF of each stdin read with "\r\n\0", mangling every
          // later line (QUIT never arrives and both sides wait: the earlier timeout). Our server
          // takes LF-terminated lines.
          const peer = yield* run("gnutls-cli", [
            "--starttls-proto=smtp",
            "--port",
            String(port),
            "--x509cafile",
            files.caFile,
            "--sni-hostname",
            "localhost",
            "--verify-hostname",
            "localhost",
            "127.0.0.1"
          ], "EHLO gnutls.test\nQUIT\n")
          const [received, exited] = yield* session(sessions, peer)
          assert.deepStrictEqual(received, ["EHLO gnutls.test", "QUIT"])
          assert.include(exited.output, "250 localhost")
          assert.include(exited.output, "221 Bye")
          assert.strictEqual(exited.code, 0, exited.output)
        }))

      it.scoped("our client against a STARTTLS server that is not ours (Python's ssl)", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const files = yield* TestPki.writeFiles(fixture.server, fixture.pki)
          const script = Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "smtp-")), "server.py")
          Fs.writeFileSync(script, pythonServer)
          const peer = yield* run("python3", [script, files.chainFile, files.keyFile])
          const port = yield* Effect.repeat(
            Effect.sync(() => /PORT (\d+)/.exec(peer.output())),
            { until: (match) => match !== null, schedule: Schedule.spaced("20 millis") }
          ).pipe(Effect.zipRight(Effect.sync(() => Number(/PORT (\d+)/.exec(peer.output())![1]))))
          const transport = yield* NodeTransport.connect({ host: "127.0.0.1", port })
          const answer = yield* Smtp.client(transport, { serverIdentity: "localhost", database: fixture.pki.database })
          assert.deepStrictEqual(answer, ["250 python.test"])
          Fs.rmSync(Path.dirname(script), { recursive: true, force: true })
        }))
    })
  }
)

/** A minimal STARTTLS SMTP server on Python's ssl module: one session, then exit. */
const pythonServer = `
import socket, ssl, sys
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
print("PORT", listener.getsockname()[1], flush=True)
conn, _ = listener.accept()
f = conn.makefile("rb")
conn.sendall(b"220 python.test ESMTP\\r\\n")
while True:
    line = f.readline().strip().upper()
    if line.startswith(b"EHLO"):
        conn.sendall(b"250-python.test\\r\\n250 STARTTLS\\r\\n")
    elif line == b"STARTTLS":
        conn.sendall(b"220 Ready\\r\\n")
        break
tls = context.wrap_socket(conn, server_side=True)
g = tls.makefile("rb")
while True:
    line = g.readline().strip().upper()
    if not line:
        break
    if line.startswith(b"EHLO"):
        tls.sendall(b"250 python.test\\r\\n")
    elif line == b"QUIT":
        tls.sendall(b"221 Bye\\r\\n")
        break
tls.close()
`
