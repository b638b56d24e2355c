import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TlsSuite from "@effect-tls/testkit/TlsSuite"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTransport from "../src/NodeTransport.js"

TlsSuite.run("node engine over the memory pair", {
  makePair: MemoryTransport.pair(),
  backend: NodeTlsBackend.layer
})

TlsSuite.run("node engine over the memory pair, 1-byte chunks", {
  makePair: MemoryTransport.pair({ chunkSize: 1 }),
  backend: NodeTlsBackend.layer
})

TlsSuite.run("node engine over loopback TCP", {
  makePair: NodeTransport.pairForTest,
  backend: NodeTlsBackend.layer
})
