/**
 * The PostgreSQL server of the tests: `CURATOR_TEST_POSTGRES_URL` (which
 * `.ci/run` sets), and a fresh database per test, dropped afterwards. Without
 * the variable, PostgreSQL tests are skipped visibly, never passed silently.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import type { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted, type Scope } from "effect"

/** The server the PostgreSQL tests use, if any. */
export const postgresUrl: string | undefined = process.env.CURATOR_TEST_POSTGRES_URL || undefined

/** Why the PostgreSQL tests did not run, for the skipped test's name and a console warning. */
export const skipReason =
  "skipped: no PostgreSQL server; set CURATOR_TEST_POSTGRES_URL=postgresql://postgres:postgres@127.0.0.1:5432/postgres (.ci/run starts one)"

if (postgresUrl === undefined) console.warn(`PostgreSQL tests ${skipReason}`)

const onServer = <A>(url: string, statement: (sql: PgClient.PgClient) => Effect.Effect<A, SqlError>) =>
  Effect.scoped(Effect.flatMap(PgClient.make({ url: Redacted.make(url) }), statement)).pipe(Effect.provide(Reactivity.layer))

/** A new, empty database on the server for the scope (dropped when it closes, connections and all): its URL. */
export const freshDatabase = (serverUrl: string): Effect.Effect<string, SqlError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const name = `curator_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`
      yield* onServer(serverUrl, (sql) => sql`CREATE DATABASE ${sql(name)}`)
      const url = new URL(serverUrl)
      url.pathname = `/${name}`
      return { name, url: url.href }
    }),
    ({ name }) => Effect.orDie(onServer(serverUrl, (sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`))
  ).pipe(Effect.map(({ url }) => url))
