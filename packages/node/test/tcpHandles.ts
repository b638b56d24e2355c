/**
 * Counts of this process's open TCP sockets and listeners, for the leak checks.
 *
 * On Linux they are read from the kernel: the socket inodes among `/proc/self/fd` that
 * `/proc/net/tcp` / `tcp6` list, a listener being one in state LISTEN (`0A`). This counts what
 * is really open on every runtime: Bun's `process.getActiveResourcesInfo()` and
 * `process._getActiveHandles()` list no sockets at all. Elsewhere, Node's
 * `getActiveResourcesInfo()` (libuv's `TCPSocketWrap` / `TCPServerWrap` handles).
 */
import * as Fs from "node:fs"

const procFds = "/proc/self/fd"
const fromKernel = Fs.existsSync(procFds) && Fs.existsSync("/proc/net/tcp")

/** inode -> TCP state (hex, `0A` LISTEN) of the kernel's TCP sockets in this network namespace. */
const tcpStates = (): Map<string, string> => {
  const states = new Map<string, string>()
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string
    try {
      text = Fs.readFileSync(file, "utf8")
    } catch {
      continue
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields.length > 9) states.set(fields[9]!, fields[3]!)
    }
  }
  return states
}

const kernelCounts = (): { readonly sockets: number; readonly servers: number } => {
  const states = tcpStates()
  let sockets = 0
  let servers = 0
  for (const fd of Fs.readdirSync(procFds)) {
    let link: string
    try {
      link = Fs.readlinkSync(`${procFds}/${fd}`)
    } catch {
      continue // closed meanwhile (the readdir's own descriptor among them)
    }
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1]
    const state = inode === undefined ? undefined : states.get(inode)
    if (state === undefined) continue
    if (state === "0A") servers++
    else sockets++
  }
  return { sockets, servers }
}

const resources = (name: string): number => process.getActiveResourcesInfo().filter((n) => n === name).length

/** Open TCP sockets (connected, connecting or closing) of this process. */
export const tcpSockets = (): number => fromKernel ? kernelCounts().sockets : resources("TCPSocketWrap")

/** Listening TCP sockets of this process. */
export const tcpServers = (): number => fromKernel ? kernelCounts().servers : resources("TCPServerWrap")

/** Both. */
export const tcpHandles = (): number => {
  if (!fromKernel) return resources("TCPSocketWrap") + resources("TCPServerWrap")
  const { servers, sockets } = kernelCounts()
  return sockets + servers
}
