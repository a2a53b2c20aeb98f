/**
 * `curator cache …` on a cache directory of three databases: one made by
 * running the fixture pipeline with --resume, a copy named like a fresh run
 * of the same configuration (so that a short prefix is ambiguous), and an
 * old copy with WAL files (for prune). Also target resolution by prefix.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { withRaw } from "../helpers.js"
import { curator, databases, fixture, limited, makeSandbox, type Result, resultsOf, type Sandbox, show } from "./curator.js"

let sandbox: Sandbox
let hash16: string
let freshId: string
const oldId = "feedface00000000"
const results: Record<string, Result> = {}
const listings = { afterReads: [] as Array<string>, afterPrune: [] as Array<string>, afterRm: [] as Array<string>, afterClear: [] as Array<string> }

beforeAll(async () => {
  sandbox = makeSandbox({ CURATOR_CLI_N: "4" })
  const made = await curator(["run", fixture, "--resume", "--json"], { env: sandbox.env })
  if (made.code !== 0) throw new Error(show(made))
  const stable: string = JSON.parse(made.stdout).db_path
  hash16 = path.basename(stable, ".db")
  freshId = `${hash16}_1700000000000000`
  fs.copyFileSync(stable, path.join(sandbox.cache, `${freshId}.db`))
  const old = path.join(sandbox.cache, `${oldId}.db`)
  fs.copyFileSync(stable, old)
  withRaw(old, (db) => db.prepare("UPDATE pipeline_runs SET started_at = '2020-01-01T00:00:00.000000+00:00'").run())
  fs.writeFileSync(`${old}-wal`, "")
  fs.writeFileSync(`${old}-shm`, "")
  const longAgo = new Date(Date.now() - 30 * 86400e3)
  for (const file of [old, `${old}-wal`, `${old}-shm`]) fs.utimesSync(file, longAgo, longAgo)

  const run = (key: string, args: ReadonlyArray<string>, input?: string) => async () => {
    results[key] = await curator(args, { env: sandbox.env, input })
  }
  const ambiguous = hash16.slice(0, 4)
  await limited(3, [
    run("listJson", ["cache", "list", "--json"]),
    run("list", ["cache", "list"]),
    run("path", ["cache", "path"]),
    run("statusAmbiguous", ["status", ambiguous]),
    run("rmAmbiguous", ["cache", "rm", ambiguous]),
    run("clearDeclined", ["cache", "clear"], "no\n")
  ])
  listings.afterReads = databases(sandbox.cache)
  await run("prune", ["cache", "prune", "--older-than", "7d"])()
  listings.afterPrune = fs.readdirSync(sandbox.cache).sort()
  await run("rm", ["cache", "rm", `${hash16}_17`, "--json"])()
  listings.afterRm = fs.readdirSync(sandbox.cache).sort()
  await run("clear", ["cache", "clear", "--yes"])()
  listings.afterClear = fs.readdirSync(sandbox.cache)
}, 120_000)

afterAll(() => sandbox?.remove())

const { ok, result } = resultsOf(results)

describe("curator cache", () => {
  it("path prints the cache directory ($PSNC_CACHE_DIR)", () => {
    expect(ok("path")).toBe(`${sandbox.cache}\n`)
  })

  it("list --json describes every database, newest first", () => {
    const entries = JSON.parse(ok("listJson"))
    expect(entries.map((entry: { id: string }) => entry.id)).toEqual(
      // The copies have the same creation time: by id among them.
      [hash16, freshId, oldId]
    )
    expect(entries[0]).toMatchObject({
      path: path.join(sandbox.cache, `${hash16}.db`),
      completed: 4,
      failed: 0,
      total: 4,
      source: "Numbers",
      filters: ["Square"],
      sink: "JsonFiles",
      configurations: 1,
      error: null
    })
    expect(entries[0].config_hash.startsWith(hash16)).toBe(true)
    expect(entries[0].size_bytes).toBeGreaterThan(0)
    expect(entries[2].created).toBe("2020-01-01T00:00:00.000000+00:00")
  })

  it("list shows a table: id, created, size, done/total, source and sink", () => {
    const lines = ok("list").trimEnd().split("\n")
    expect(lines[0]).toMatch(/^id\s+created\s+size\s+done\/total\s+source → sink$/)
    expect(lines).toHaveLength(5)
    expect(lines[2]).toMatch(new RegExp(`^${hash16}\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+[\\d.]+ KiB\\s+4/4\\s+Numbers → JsonFiles$`))
  })

  it("an ambiguous id prefix is an error listing the candidates (exit 2), for targets and for rm", () => {
    for (const key of ["statusAmbiguous", "rmAmbiguous"]) {
      const found = result(key)
      expect(found.code, show(found)).toBe(2)
      expect(found.stderr).toContain(`"${hash16.slice(0, 4)}" matches 2 databases in ${sandbox.cache}: ${hash16}, ${freshId}; give more of the id`)
    }
    expect(listings.afterReads).toEqual([`${hash16}.db`, `${freshId}.db`, `${oldId}.db`])
  })

  it("clear asks first and removes nothing unless the answer is yes", () => {
    const declined = result("clearDeclined")
    expect(declined.code, show(declined)).toBe(0)
    expect(declined.stderr).toContain(`Remove all 3 databases in ${sandbox.cache}? [y/N] `)
    expect(declined.stdout).toBe("")
  })

  it("prune --older-than removes the databases not written to since, with their WAL files", () => {
    expect(ok("prune")).toBe(`removed ${oldId}\n`)
    expect(listings.afterPrune.filter((name) => name.startsWith(oldId))).toEqual([])
    expect(listings.afterPrune.filter((name) => name.endsWith(".db"))).toEqual([`${hash16}.db`, `${freshId}.db`])
  })

  it("rm removes a database by a unique prefix of its id", () => {
    const removed = JSON.parse(ok("rm"))
    // The listing read it, leaving the (empty) WAL files a reader creates: they go with it.
    const file = path.join(sandbox.cache, `${freshId}.db`)
    expect(removed).toEqual([{ id: freshId, files: expect.arrayContaining([file]) }])
    expect(removed[0].files.every((removedFile: string) => [file, `${file}-wal`, `${file}-shm`].includes(removedFile))).toBe(true)
    expect(listings.afterRm.filter((name) => name.startsWith(freshId))).toEqual([])
    expect(listings.afterRm.filter((name) => name.endsWith(".db"))).toEqual([`${hash16}.db`])
  })

  it("clear --yes removes every database", () => {
    expect(ok("clear")).toBe(`removed ${hash16}\n`)
    expect(listings.afterClear).toEqual([])
  })
})
