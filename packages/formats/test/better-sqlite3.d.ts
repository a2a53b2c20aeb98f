/**
 * The little of better-sqlite3's API the tests use to write and inspect
 * database files by hand, as another program (the Python reference) would.
 * The package ships no types, and @types/better-sqlite3 is not installed.
 */
declare module "better-sqlite3" {
  interface RunResult {
    readonly changes: number
    readonly lastInsertRowid: number | bigint
  }
  interface Statement {
    run(...params: ReadonlyArray<unknown>): RunResult
    get(...params: ReadonlyArray<unknown>): unknown
    all(...params: ReadonlyArray<unknown>): Array<unknown>
  }
  interface Options {
    readonly readonly?: boolean
    readonly fileMustExist?: boolean
    readonly timeout?: number
  }
  interface Database {
    exec(sql: string): Database
    prepare(sql: string): Statement
    pragma(source: string, options?: { readonly simple?: boolean }): unknown
    close(): Database
  }
  const Database: new(filename: string, options?: Options) => Database
  export default Database
}
