/**
 * The command line's help pages and argument errors (issue 20's rough
 * edges), checked in this process on the real command tree: what
 * `curator …` would print and its exit code, before any command runs.
 */
import { describe, expect, it } from "@effect/vitest"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect } from "effect"
import * as Cache from "../../src/cli/Cache.js"
import * as Main from "../../src/cli/Main.js"
import * as Usage from "../../src/cli/Usage.js"

const preflight = (...args: ReadonlyArray<string>) =>
  Effect.runPromise(Usage.preflight(Main.command, ["node", "curator", ...args], false).pipe(Effect.provide(NodeContext.layer)))

/** What `curator args…` prints (and where), or "runs" when the arguments are fine and the command would run. */
const answer = async (...args: ReadonlyArray<string>) => {
  const result = await preflight(...args)
  return result._tag === "Run" ? "runs" : result
}

const error = async (...args: ReadonlyArray<string>) => {
  const result = await answer(...args)
  expect(result).not.toBe("runs")
  if (result === "runs") return ""
  expect(result.stream).toBe("stderr")
  expect(result.code).toBe(2)
  // One line, no trailing blank line.
  expect(result.text.split("\n")).toHaveLength(2)
  return result.text
}

describe("argument errors", () => {
  it("are one line prefixed curator:, naming the option and the bad value", async () => {
    expect(await error("run", "p.ts", "--backend", "magic")).toBe(
      `curator: --backend: expected one of sequential, fibers, workers, cluster; got "magic"\n`
    )
    expect(await error("logs", "db", "--index=abc")).toBe(`curator: --index: expected an integer; got "abc"\n`)
    expect(await error("metrics", "db", "--limit")).toBe("curator: --limit needs a value (see curator metrics --help)\n")
    expect(await error("status")).toBe("curator: missing <target> (see curator status --help)\n")
    expect(await error("status", "db", "extra")).toBe(`curator: unexpected argument "extra" (see curator status --help)\n`)
  })

  it("suggest the nearest command or option", async () => {
    expect(await error("stats", "db")).toBe(
      `curator: unknown command "stats"; did you mean status? ` +
        `(commands: run, plan, runner, status, failed, workers, logs, metrics, outputs, which, reset, verify, gc, diff, gather, cache, dashboard)\n`
    )
    expect(await error("cache", "lst")).toBe(`curator: unknown command "lst"; did you mean list? (commands: list, rm, prune, clear, path)\n`)
    expect(await error("status", "--jsn", "db")).toBe("curator: unknown option --jsn; did you mean --json? (see curator status --help)\n")
    // Nothing near enough: no guess.
    expect(await error("xyzzy")).toMatch(/^curator: unknown command "xyzzy" \(commands: run, /)
  })

  it("let good arguments through to the command", async () => {
    expect(await answer("status", "db", "--json")).toBe("runs")
    expect(await answer("run", "p.ts", "--backend", "workers", "--concurrency", "2")).toBe("runs")
    expect(await answer("--version")).toBe("runs")
  })
})

describe("--help", () => {
  const help = async (...args: ReadonlyArray<string>) => {
    const result = await answer(...args)
    expect(result).not.toBe("runs")
    if (result === "runs") return ""
    expect(result.stream).toBe("stdout")
    expect(result.code).toBe(0)
    return result.text
  }

  it("has no filler, no unrelated built-ins, usage lines starting with curator, and states defaults", async () => {
    const pages = [await help("--help"), await help("run", "--help"), await help("cache"), await help("cache", "prune", "--help"), await help()]
    for (const page of pages) {
      for (const filler of ["This setting is optional", "A true or false value", "A user-defined piece of text", "One of the following", "--wizard", "--completions", "--log-level"]) {
        expect(page).not.toContain(filler)
      }
      // Not padded to the longest usage line; only the full usage of `run` itself is long.
      for (const line of page.split("\n")) if (!line.startsWith("  curator run ") && !line.startsWith("curator run ")) expect(line.length).toBeLessThanOrEqual(240)
      expect(page).not.toMatch(/\n\n$/)
    }
    const [root, run, cache, prune] = pages
    expect(root).toContain("USAGE\n\n  curator\n")
    expect(root).toContain("curator status [--json] <target>\n\n    Show how far")
    expect(root).toContain("curator cache prune --older-than AGE")
    expect(run).toMatch(/USAGE\n\n {2}curator run \[--export NAME\]/)
    expect(run).toContain("Default: 1")
    expect(run).toContain("Default: fibers")
    expect(cache).toContain("curator cache list [--json]")
    expect(prune).toContain("USAGE\n\n  curator cache prune --older-than AGE")
    expect(pages[4]).toBe(root)
  })
})

describe("cache prune --older-than", () => {
  it("reads unambiguous units and refuses a bare m (minutes or months?)", () => {
    expect(Cache.parseAge("90s")).toEqual({ ms: 90_000 })
    expect(Cache.parseAge("30min")).toEqual({ ms: 30 * 60_000 })
    expect(Cache.parseAge("2w")).toEqual({ ms: 14 * 86_400_000 })
    expect(Cache.parseAge("6mo")).toEqual({ ms: 180 * 86_400_000 })
    expect(Cache.parseAge("1m")).toEqual({ error: `--older-than: "1m" could be minutes or months; write 1min or 1mo` })
    expect(Cache.parseAge("1xyz")).toEqual({ error: `--older-than takes an age like 90s, 30min, 12h, 7d, 2w or 6mo, got "1xyz"` })
  })
})
