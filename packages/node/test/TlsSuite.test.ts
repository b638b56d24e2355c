import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TlsSuite from "@effect-tls/testkit/TlsSuite"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTransport from "../src/NodeTransport.js"

// (Deno 2.9 logs no keys: a client cannot decrypt a TLS 1.3 CertificateRequest, the README's
// "accepted CAs" cell)
const tls13AcceptedCas = typeof (globalThis as any).Deno !== "object"

TlsSuite.run("node engine over the memory pair", {
  makePair: MemoryTransport.pair(),
  backend: NodeTlsBackend.layer,
  tls13AcceptedCas
})

TlsSuite.run("node engine over the memory pair, 1-byte chunks", {
  makePair: MemoryTransport.pair({ chunkSize: 1 }),
  backend: NodeTlsBackend.layer,
  tls13AcceptedCas
})

TlsSuite.run("node engine over loopback TCP", {
  makePair: NodeTransport.pairForTest,
  backend: NodeTlsBackend.layer,
  tls13AcceptedCas
})
