/**
 * Errors of a statement that say a value was refused (a constraint, a type,
 * a value too big or a parameter that could not be bound), as opposed to
 * errors of the database itself (locked, full, read-only, damaged): only the
 * first can be isolated to one record.
 */

/** SQLite result codes of a refused value (extended codes start with these). */
const sqliteRefusals = /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/

/** PostgreSQL SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation). */
const postgresRefusals = /^2[23][0-9A-Z]{3}$/

/** Tells whether a SQL error means that the database refused a value of the statement. */
export const isRefusal = (error: unknown): boolean => {
  const cause = (error as { readonly cause?: unknown } | undefined)?.cause
  const code = (cause as { readonly code?: unknown } | undefined)?.code
  if (typeof code === "string") return sqliteRefusals.test(code) || postgresRefusals.test(code)
  // better-sqlite3 throws these, without a code, for values it cannot bind (e.g. too few parameters).
  return cause instanceof TypeError || cause instanceof RangeError
}

/** The driver's message of a SQL error. */
export const messageOf = (error: unknown): string => {
  const cause = (error as { readonly cause?: unknown } | undefined)?.cause
  if (cause instanceof Error) return cause.message
  return error instanceof Error ? error.message : String(error)
}
