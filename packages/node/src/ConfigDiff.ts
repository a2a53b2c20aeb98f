/**
 * Configuration diffs instead of silent fresh starts: a changed parameter
 * gives a pipeline another configuration hash, so a resumed run finds no
 * database and starts from nothing. When that happens beside databases of a
 * pipeline with the same source, filters and sink (by name), the nearest
 * one (fewest differing parameters) is named with how many indices it
 * completed and the parameters that differ, so the user can tell whether
 * the fresh start is wanted. The diff of two `config_json` documents is
 * computed by `microdiff` (small, maintained, no dependencies).
 */
import { Effect, type Scope } from "effect"
import microdiff from "microdiff"
import * as fs from "node:fs"
import { basename, dirname, join } from "node:path"
import type { CheckpointStore } from "@curator/core"

/** One difference between two configuration documents. */
export interface Change {
  /** Where, as `filters[1].params.threshold`. */
  readonly path: string
  /** The value in the first document (undefined: absent). */
  readonly before: unknown
  /** The value in the second document (undefined: absent). */
  readonly after: unknown
}

const pathText = (path: ReadonlyArray<string | number>) =>
  path.reduce<string>((text, key) => (typeof key === "number" ? `${text}[${key}]` : text === "" ? key : `${text}.${key}`), "")

/** The differences between two configuration documents (JSON text), in document order. */
export const diff = (before: string, after: string): ReadonlyArray<Change> =>
  microdiff(JSON.parse(before), JSON.parse(after)).map((d) => ({
    path: pathText(d.path),
    before: d.type === "CREATE" ? undefined : d.oldValue,
    after: d.type === "REMOVE" ? undefined : d.value
  }))

/** The names a configuration is made of — source, filters, sink — which siblings share. */
export const shapeOf = (configJson: string): string => {
  try {
    const config = JSON.parse(configJson) as {
      source?: { name?: string }
      filters?: ReadonlyArray<{ name?: string }>
      sink?: { name?: string }
    }
    return JSON.stringify([config.source?.name, (config.filters ?? []).map((f) => f.name), config.sink?.name])
  } catch {
    return ""
  }
}

/** A database of the same pipeline shape with other parameters. */
export interface Sibling {
  readonly path: string
  readonly configHash: string
  readonly completed: number
  readonly changes: ReadonlyArray<Change>
}

/** Opens a database file read-only (the SQLite store's `openFile`, passed in: this module opens nothing itself). */
export type OpenFile = (path: string) => Effect.Effect<CheckpointStore.Checkpoint, unknown, Scope.Scope>

/**
 * The nearest sibling of a configuration among the databases in `dir`:
 * same shape, fewest changes (then most completed); undefined when none.
 * Databases that cannot be read (locked, damaged, several configurations)
 * are passed over.
 */
export const nearestSibling = (
  openFile: OpenFile,
  dir: string,
  configuration: { readonly configHash: string; readonly configJson: string }
): Effect.Effect<Sibling | undefined> =>
  Effect.gen(function*() {
    const shape = shapeOf(configuration.configJson)
    const names = yield* Effect.sync(() => {
      try {
        return fs.readdirSync(dir).filter((name) => name.endsWith(".db")).sort()
      } catch {
        return []
      }
    })
    let nearest: Sibling | undefined
    for (const name of names) {
      const found = yield* openFile(join(dir, name)).pipe(
        Effect.flatMap((checkpoint) =>
          Effect.map(Effect.all([checkpoint.configJson, checkpoint.summary]), ([configJson, summary]) => ({
            path: checkpoint.location,
            configHash: checkpoint.configHash,
            configJson,
            completed: summary.completed
          }))
        ),
        Effect.scoped,
        Effect.option
      )
      if (found._tag === "None") continue
      const other = found.value
      if (other.configHash === configuration.configHash || shapeOf(other.configJson) !== shape) continue
      const changes = diff(other.configJson, configuration.configJson)
      if (
        nearest === undefined || changes.length < nearest.changes.length ||
        (changes.length === nearest.changes.length && other.completed > nearest.completed)
      ) nearest = { path: other.path, configHash: other.configHash, completed: other.completed, changes }
    }
    return nearest
  })

/** A change as one line: `filters[0].params.threshold: 0.5 → 0.7`. */
export const formatChange = (change: Change): string =>
  `${change.path}: ${change.before === undefined ? "(absent)" : JSON.stringify(change.before)} → ${
    change.after === undefined ? "(absent)" : JSON.stringify(change.after)
  }`

/** The warning of a resumed run that starts fresh beside a sibling. */
export const freshStartWarning = (path: string, sibling: Sibling): string =>
  [
    `no database of this configuration (${basename(path)}) in ${dirname(path)}: this resumed run starts from nothing.`,
    `The nearest, ${sibling.path}, holds the same source, filters and sink with ${sibling.completed} indices completed; ` +
    `its parameters differ (before → now):`,
    ...sibling.changes.map((change) => `  ${formatChange(change)}`),
    `If that change was not meant, undo it to resume there; curator diff shows the whole difference.`
  ].join("\n")

/**
 * For a resumed run about to open `path`: when no database is there yet,
 * the warning naming the nearest sibling in its directory, if any.
 */
export const warningBeforeFreshStart = (
  openFile: OpenFile,
  path: string,
  configuration: { readonly configHash: string; readonly configJson: string }
): Effect.Effect<string | undefined> =>
  fs.existsSync(path)
    ? Effect.succeed(undefined)
    : Effect.map(nearestSibling(openFile, dirname(path), configuration), (sibling) =>
      sibling === undefined ? undefined : freshStartWarning(path, sibling))
