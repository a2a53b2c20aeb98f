/**
 * The confirmation of a destructive command on a terminal (`curator cache
 * clear` in a pseudo-terminal made by script(1)): `Prompt.confirm` takes
 * one key; `y` goes ahead, Ctrl-D (end of input) is no, Ctrl-C interrupts
 * (exit 130). Answers from a pipe are covered where each command is
 * tested (`echo n | curator reset …`, an empty stdin).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { limited, makeSandbox, nodeArgs, repoRoot, type Sandbox } from "./curator.js"

const hasScript = spawnSync("script", ["--version"]).status === 0

/** A shell word. */
const quoted = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`

interface Answered {
  readonly code: number | null
  /** What the terminal showed (the prompt is drawn on stderr, which is the terminal here). */
  readonly screen: string
  readonly left: ReadonlyArray<string>
}

/**
 * Runs `curator cache clear` over a cache of two databases in a
 * pseudo-terminal, and presses `key` once the question is on the screen.
 */
const answer = (sandbox: Sandbox, key: string): Promise<Answered> => {
  const cache = path.join(sandbox.root, `cache-${key.charCodeAt(0)}`)
  fs.mkdirSync(cache)
  for (const id of ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"]) fs.writeFileSync(path.join(cache, `${id}.db`), "")
  const command = [process.execPath, ...nodeArgs(["cache", "clear"])].map(quoted).join(" ")
  return new Promise((resolve, reject) => {
    // -e: script exits with the command's code; the typescript goes nowhere.
    const child = spawn("script", ["-qec", command, "/dev/null"], {
      cwd: repoRoot,
      env: { ...process.env, PSNC_CACHE_DIR: cache, NODE_OPTIONS: "" },
      stdio: ["pipe", "pipe", "pipe"]
    })
    let screen = ""
    let pressed = false
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      screen += chunk
      if (!pressed && screen.includes("(y/N)")) {
        pressed = true
        child.stdin.write(key)
      }
    })
    child.on("error", reject)
    child.on("close", (code) => {
      child.stdin.destroy()
      resolve({ code, screen, left: fs.readdirSync(cache).sort() })
    })
  })
}

let sandbox: Sandbox
const answered: Record<string, Answered> = {}

beforeAll(async () => {
  if (!hasScript) return
  sandbox = makeSandbox()
  const keys = { yes: "y", end: "\u0004", interrupt: "\u0003" }
  const results = await limited(3, Object.values(keys).map((key) => () => answer(sandbox, key)))
  Object.keys(keys).forEach((name, i) => (answered[name] = results[i]!))
}, 120_000)

afterAll(() => sandbox?.remove())

describe.skipIf(!hasScript)("confirmation on a terminal", () => {
  it("asks with Prompt.confirm; y goes ahead", () => {
    const { code, left, screen } = answered.yes!
    expect(code, screen).toBe(0)
    expect(screen).toContain("Remove all 2 databases in")
    expect(screen).toContain("yes")
    expect(left).toEqual([])
  })

  it("Ctrl-D (end of input) is no", () => {
    const { code, left, screen } = answered.end!
    expect(code, screen).toBe(0)
    expect(screen).toContain("nothing was removed")
    expect(left).toEqual(["aaaaaaaaaaaaaaaa.db", "bbbbbbbbbbbbbbbb.db"])
  })

  it("Ctrl-C interrupts the command (exit 130) and removes nothing", () => {
    const { code, left, screen } = answered.interrupt!
    expect(code, screen).toBe(130)
    expect(left).toEqual(["aaaaaaaaaaaaaaaa.db", "bbbbbbbbbbbbbbbb.db"])
  })
})
