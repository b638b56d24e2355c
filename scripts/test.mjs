// `pnpm test`: makes sure the interop peers are installed, then runs `vitest run` (arguments pass
// through: `pnpm test packages/node -t interop`).
//
// The interop tests run real `openssl` and `gnutls-cli` / `gnutls-serv` processes, the key-log test
// Wireshark's `tshark`. When one is missing and Debian's apt-get is there and allowed (root, or sudo
// without a password; not when EFFECT_TLS_NO_APT=1), this installs the Debian packages; otherwise it
// stops with one line saying what to install. Add a row to `peers` when a test starts to need another program.
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { root } from "./workspace.mjs"

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

const stop = (message) => {
  console.error(`pnpm test: ${message}`)
  process.exit(1)
}

const quietly = (command, args) =>
  spawnSync(command, args, {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  }).status === 0

if (missing().length > 0) {
  const programs = missing().map(([program]) => program).join(", ")
  const packages = [...new Set(missing().map(([, pkg]) => pkg))]
  const advice =
    `the interop tests need ${programs}: install them (Debian/Ubuntu: apt-get install ${packages.join(" ")};` +
    ` macOS: brew install openssl gnutls) and run pnpm test again`
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0
  const sudo = !isRoot && onPath("sudo") && quietly("sudo", ["-n", "true"])
  if (process.env.EFFECT_TLS_NO_APT === "1" || !onPath("apt-get") || (!isRoot && !sudo)) stop(advice)
  const apt = (args) => sudo ? quietly("sudo", ["-n", "apt-get", ...args]) : quietly("apt-get", args)
  console.log(`pnpm test: installing ${packages.join(" ")} with apt-get (interop peers)`)
  if (!apt(["update", "-qq"]) || !apt(["install", "-y", "-qq", ...packages]) || missing().length > 0) stop(advice)
}

const vitest = path.join(root, "node_modules", "vitest", "vitest.mjs")
const result = spawnSync(process.execPath, [vitest, "run", ...process.argv.slice(2)], { cwd: root, stdio: "inherit" })
process.exit(result.status ?? 1)
