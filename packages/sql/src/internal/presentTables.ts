/**
 * Which of Curator's later tables a database holds: one opened without
 * migrating (the reference's, or an older Curator's, read-only) may lack
 * them, and then reads as holding none of their rows.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"

/** The names among `names` of the tables the database holds. */
export const presentTables = (
  sql: SqlClient.SqlClient,
  names: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<string>, SqlError> =>
  Effect.map(
    sql.onDialectOrElse({
      pg: () =>
        sql<{ name: string }>`SELECT table_name AS name FROM information_schema.tables
          WHERE table_schema = current_schema() AND table_name IN ${sql.in(names)}`,
      orElse: () => sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ${sql.in(names)}`
    }),
    (rows) => rows.map((row) => row.name)
  )

/**
 * Whether the database holds every one of `names`. Only presence is
 * remembered: a missing table may be created meanwhile by a writer that
 * migrates the database, so its absence is asked again next time.
 */
export const makeAllPresent = (sql: SqlClient.SqlClient, names: ReadonlyArray<string>): Effect.Effect<boolean, SqlError> => {
  let present = false
  return Effect.suspend(() =>
    present ? Effect.succeed(true) : Effect.map(presentTables(sql, names), (found) => (present = found.length === names.length))
  )
}
