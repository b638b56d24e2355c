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
  let count = 0
  socket.on("data", (data: Uint8Array) => {
    if (mode !== "sink") return
    const before = count
    count += data.length
    if (before < total && count >= total) socket.write(new Uint8Array([1]))
  })
  socket.on("end", () => socket.end())
}

export const startRawServer = async (
  material: Material,
  path: Path,
  key: KeyName,
  mode: ServerMode,
  total: number,
  counters: Counters
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
