/**
 * `curator cache …`: the databases in the cache directory — list them,
 * remove some by id, prune old ones, clear them all, print where they are.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect, Either } from "effect"
import * as Cache from "../Cache.js"
import { failed, usage } from "../CliError.js"
import { confirm } from "../Confirm.js"
import * as Format from "../Format.js"
import * as Shared from "../Shared.js"

/** An entry as `cache list --json` prints it. */
const toJson = (entry: Cache.Entry) => ({
  id: entry.id,
  path: entry.path,
  config_hash: entry.configHash,
  created: entry.created,
  modified: entry.modified,
  size_bytes: entry.sizeBytes,
  completed: entry.completed,
  failed: entry.failed,
  total: entry.total,
  source: entry.source,
  filters: entry.filters,
  sink: entry.sink,
  configurations: entry.configurations,
  error: entry.error
})

/** The cache listing as text, newest first. */
export const formatList = (entries: ReadonlyArray<Cache.Entry>): string =>
  Format.table(
    ["id", "created", "size", "done/total", "source → sink"],
    entries.map((entry) => [
      entry.id,
      Format.timestamp(entry.created),
      Format.bytes(entry.sizeBytes),
      entry.error === null ? `${entry.completed}/${entry.total ?? "?"}` : "?",
      entry.error ?? `${entry.source ?? "?"} → ${entry.sink ?? "?"}${entry.configurations > 1 ? ` (+${entry.configurations - 1} more)` : ""}`
    ]),
    [2, 3]
  )

/** Removes the files and reports them (text or JSON). */
const removeAll = (files: ReadonlyArray<Cache.DatabaseFile>, json: boolean) =>
  Effect.gen(function*() {
    const removed: Array<{ id: string; files: ReadonlyArray<string> }> = []
    for (const file of files) {
      const paths = yield* Effect.mapError(Cache.remove(file.path), (error) => failed(error.message))
      removed.push({ id: file.id, files: paths })
    }
    if (json) return yield* Console.log(Format.json(removed))
    for (const entry of removed) yield* Console.log(`removed ${entry.id}`)
  })

const list = Command.make("list", { json: Shared.json }, ({ json }) =>
  Effect.gen(function*() {
    const dir = yield* Cache.directory
    const entries = yield* Cache.list(dir)
    if (json) return yield* Console.log(Format.json(entries.map(toJson)))
    if (entries.length === 0) return yield* Console.log(`no databases in ${dir}`)
    yield* Console.log(formatList(entries))
  })).pipe(Command.withDescription("List the cached databases, newest first"))

const rm = Command.make(
  "rm",
  { ids: Args.text({ name: "id" }).pipe(Args.atLeast(1), Args.withDescription("a database id or a unique prefix of one")), json: Shared.json },
  ({ ids, json }) =>
    Effect.gen(function*() {
      const dir = yield* Cache.directory
      const files = yield* Cache.databaseFiles(dir)
      const found = ids.map((id) => Cache.find(files, id.endsWith(".db") ? id.slice(0, -3) : id, dir))
      const errors = found.filter(Either.isLeft).map((e) => e.left)
      if (errors.length > 0) return yield* usage(`${errors.join("; ")}; nothing was removed`)
      const chosen = [...new Map(found.filter(Either.isRight).map((e) => [e.right.id, e.right])).values()]
      yield* removeAll(chosen, json)
    })
).pipe(Command.withDescription("Remove databases (with their -wal and -shm files) by id or unique prefix"))

const prune = Command.make(
  "prune",
  {
    olderThan: Options.text("older-than").pipe(
      Options.withPseudoName("AGE"),
      Options.withDescription(`remove databases not written to for this long: ${Cache.ageExamples} (min: minutes, mo: months)`)
    ),
    json: Shared.json
  },
  ({ json, olderThan }) =>
    Effect.gen(function*() {
      const age = Cache.parseAge(olderThan)
      if ("error" in age) return yield* usage(age.error)
      const dir = yield* Cache.directory
      const entries = yield* Cache.list(dir)
      const cutoff = Date.now() - age.ms
      const old = entries.filter((entry) => Date.parse(entry.modified) < cutoff)
      if (old.length === 0 && !json) return yield* Console.log(`no databases in ${dir} older than ${olderThan}`)
      yield* removeAll(old, json)
    })
).pipe(Command.withDescription("Remove the databases not written to for a while"))

const clear = Command.make("clear", { yes: Shared.yes, json: Shared.json }, ({ json, yes }) =>
  Effect.gen(function*() {
    const dir = yield* Cache.directory
    const files = yield* Cache.databaseFiles(dir)
    if (files.length === 0 && !json) return yield* Console.log(`no databases in ${dir}`)
    if (files.length > 0 && !yes && !(yield* confirm(`Remove all ${files.length} databases in ${dir}?`))) {
      return yield* Console.error("nothing was removed")
    }
    yield* removeAll(files, json)
  })).pipe(Command.withDescription("Remove every database in the cache directory"))

const path = Command.make("path", {}, () => Effect.flatMap(Cache.directory, Console.log)).pipe(
  Command.withDescription("Print the cache directory ($PSNC_CACHE_DIR, else $XDG_CACHE_HOME/psnc, else ~/.cache/psnc)")
)

export const command = Command.make("cache").pipe(
  Command.withDescription("Manage the checkpoint databases in the cache directory"),
  Command.withSubcommands([list, rm, prune, clear, path])
)
