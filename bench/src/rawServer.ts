/**
 * The raw node:tls server of every TCP row: `tls.createServer` on the native socket, or a
 * `tls.TLSSocket` over a plain JS Duplex wrapping each accepted socket.
 */
import * as net from "node:net"
import type { Duplex } from "node:stream"
import * as tls from "node:tls"
import type { KeyName, Material } from "./material.js"
import type { Path, ServerMode } from "./protocol.js"
import { SocketDuplex } from "./socketDuplex.js"
import { once } from "./util.js"

export interface Counters {
  handshakes: number
}

export interface RunningServer {
  readonly port: number
  readonly close: () => Promise<void>
}

/** What a server is asked to be (the parent's `serve` request), and where it counts handshakes. */
export interface ServerSpec {
  readonly material: Material
  readonly path: Path
  readonly key: KeyName
  readonly mode: ServerMode
  readonly total: number
  readonly counters: Counters
}

/** The sink mode's count: true once, for the chunk with which `total` bytes have arrived. */
export const sinkCounter = (total: number) => {
  let count = 0
  return (length: number): boolean => {
    const before = count
    count += length
    return before < total && count >= total
  }
}

/** What a server does with a connection once its handshake is done. */
const serve = (socket: tls.TLSSocket, mode: ServerMode, total: number) => {
  socket.on("error", () => {})
  if (mode === "echo") {
    socket.pipe(socket)
    return
  }
  if (mode === "noRead") {
    socket.pause()
    return
  }
  const arrived = sinkCounter(total)
  socket.on("data", (data: Uint8Array) => {
    if (mode === "sink" && arrived(data.length)) socket.write(new Uint8Array([1]))
  })
  socket.on("end", () => socket.end())
}

export const startRawServer = async (
  { counters, key, material, mode, path, total }: ServerSpec
): Promise<RunningServer> => {
  const open = new Set<Duplex>()
  const track = (socket: Duplex) => {
    open.add(socket)
    socket.on("close", () => open.delete(socket))
  }
  let server: net.Server
  if (path === "native") {
    const leaf = material.pems.leaves[key]
    const tlsServer = tls.createServer({
      cert: leaf.chainPem,
      key: leaf.keyPem,
      ciphers: "TLS_AES_128_GCM_SHA256",
      minVersion: "TLSv1.3",
      maxVersion: "TLSv1.3"
    })
    tlsServer.on("tlsClientError", () => {})
    tlsServer.on("secureConnection", (socket) => {
      counters.handshakes++
      track(socket)
      serve(socket, mode, total)
    })
    server = tlsServer
  } else {
    server = net.createServer({ allowHalfOpen: true }, (tcp) => {
      tcp.on("error", () => {})
      track(tcp)
      const socket = new tls.TLSSocket(new SocketDuplex(tcp), {
        isServer: true,
        secureContext: material.rawServerContext[key]
      })
      socket.on("error", () => {})
      socket.once("secure", () => {
        counters.handshakes++
        serve(socket, mode, total)
      })
    })
  }
  server.listen(0, "127.0.0.1", 1024)
  await once(server, "listening")
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy()
        server.close(() => resolve())
      })
  }
}
