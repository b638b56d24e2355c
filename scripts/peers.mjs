// The interop peers: the tests run real `openssl` and `gnutls-cli` / `gnutls-serv` processes, the
// key-log test Wireshark's `tshark`. When one is missing and Debian's apt-get is there and allowed
// (root, or sudo without a password; not when EFFECT_TLS_NO_APT=1), `ensurePeers` installs the
// Debian packages; otherwise it stops with one line saying what to install. Add a row to `peers`
// when a test starts to need another program. `pnpm test` and `runtimes/run.mjs` call it first;
// `node scripts/peers.mjs` runs it alone.
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

/** program on PATH -> the Debian package that has it */
const peers = [
  ["openssl", "openssl"],
  ["gnutls-cli", "gnutls-bin"],
  ["gnutls-serv", "gnutls-bin"],
  ["tshark", "tshark"]
]

const onPath = (program) =>
  (process.env.PATH ?? "").split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, program), fs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })

const missing = () => peers.filter(([program]) => !onPath(program))

const stop = (who, message) => {
  console.error(`${who}: ${message}`)
  process.exit(1)
}

const quietly = (command, args) =>
  spawnSync(command, args, {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  }).status === 0

/** Installs the interop peers that are missing, or stops the process saying what to install. */
export const ensurePeers = (who) => {
  const absent = missing()
  if (absent.length > 0) {
    const programs = absent.map(([program]) => program).join(", ")
    const packages = [...new Set(absent.map(([, pkg]) => pkg))]
    const advice =
      `the interop tests need ${programs}: install them (Debian/Ubuntu: apt-get install ${packages.join(" ")})` +
      ` and run ${who} again`
    const isRoot = typeof process.getuid === "function" && process.getuid() === 0
    const sudo = !isRoot && onPath("sudo") && quietly("sudo", ["-n", "true"])
    if (process.env.EFFECT_TLS_NO_APT === "1" || !onPath("apt-get") || (!isRoot && !sudo)) stop(who, advice)
    const apt = (args) => sudo ? quietly("sudo", ["-n", "apt-get", ...args]) : quietly("apt-get", args)
    console.log(`${who}: installing ${packages.join(" ")} with apt-get (interop peers)`)
    if (!apt(["update", "-qq"]) || !apt(["install", "-y", "-qq", ...packages]) || missing().length > 0) stop(who, advice)
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  ensurePeers("scripts/peers.mjs")
}
