/**
 * CSV with a header row, parsed by `csv-parse` and written by
 * `csv-stringify`. Every field arrives as a string; a Schema gives the
 * columns their types (`Schema.NumberFromString`, ...), and a row that does
 * not fit fails the index naming the file and line.
 */
import type { Sink } from "@curator/core"
import { parse } from "csv-parse"
import { stringify } from "csv-stringify/sync"
import { Chunk, Effect, Either, type Schema, Stream } from "effect"
import * as fs from "node:fs"
import { pipeline } from "node:stream"
import { makeReader, type Reader } from "./FileSource.js"
import type { FormatError } from "./FormatError.js"
import { decodeWith, encodeWith, type FileOptions, fromReadable, mismatch, placement, schemaParams, structFields, textSink, unencodable } from "./internal/files.js"

/** Options of the CSV reader. */
export interface ReadOptions {
  /** The field delimiter (default ","). */
  readonly delimiter?: string | undefined
}

/** How csv-parse reads the files of `read` (and again, to find the line of a record that does not fit). */
const parseOptions = (delimiter: string) => ({ columns: true, skip_empty_lines: true, delimiter }) as const

/**
 * The line the `record`-th record of a file ends on (1-based, the header not
 * counted). Only for an error message: the file is parsed again up to that
 * record with csv-parse's `info`. (Asking csv-parse for each record's line as
 * it reads — `info` or `on_record` — builds an info object per record, a
 * quarter of the reader's time.)
 */
const lineOfRecord = (file: string, record: number, delimiter: string): Effect.Effect<string> =>
  Effect.tryPromise(async () => {
    let line: number | undefined
    const bytes = fs.createReadStream(file)
    try {
      for await (const { info } of bytes.pipe(parse({ ...parseOptions(delimiter), info: true, to: record }))) {
        line = (info as { lines: number }).lines
      }
    } finally {
      bytes.destroy()
    }
    return line === undefined ? `record ${record}` : `line ${line}`
  }).pipe(Effect.orElseSucceed(() => `record ${record}`)) // The file changed or went: its record number still says where.

/**
 * Reads a CSV file whose first line names the columns, as a stream of rows
 * decoded by `schema`. Empty lines are skipped.
 *
 * @example
 * const Row = Schema.Struct({ id: Schema.NumberFromString, text: Schema.String })
 * const rows = FileSource.glob("*.csv", { root: "/data", read: Csv.read(Row) })
 */
export const read = <A, I>(schema: Schema.Schema<A, I>, options: ReadOptions = {}): Reader<A> => {
  const decode = decodeWith(schema)
  const delimiter = options.delimiter ?? ","
  return makeReader({ format: "csv", delimiter, ...schemaParams(schema) }, (file) =>
    Stream.suspend(() => {
      let records = 0
      return fromReadable<Record<string, string>>(
        "csv",
        file,
        // pipeline() forwards a read error of the file to the parser, the stream we read.
        () => pipeline(fs.createReadStream(file), parse(parseOptions(delimiter)), () => {}),
        (cause) => {
          const lines = (cause as { lines?: unknown }).lines
          return typeof lines === "number" ? `line ${lines}` : undefined
        }
      ).pipe(Stream.mapChunksEffect((parsed) => {
        const rows: Array<A> = []
        for (const record of parsed) {
          records += 1
          const decoded = decode(record)
          if (Either.isLeft(decoded)) {
            const issue = decoded.left
            return Effect.flatMap(lineOfRecord(file, records, delimiter), (position) => Effect.fail(mismatch("csv", file, position, issue)))
          }
          rows.push(decoded.right)
        }
        return Effect.succeed(Chunk.unsafeFromArray(rows))
      }))
    }))
}

/** Options of the CSV sink. */
export interface WriteOptions<A, I> extends FileOptions {
  /** Encodes each row and fixes the columns: the schema's fields, in order. */
  readonly schema: Schema.Schema<A, I>
  /** The field delimiter (default ","). */
  readonly delimiter?: string | undefined
}

/**
 * One CSV file per index (`000042.csv`) with a header row, written
 * atomically; an index whose items were all dropped writes none.
 */
export const write = <A, I>(options: WriteOptions<A, I>): Sink.Sink<A, FormatError> => {
  const { dir, pathOf } = placement(options, ".csv")
  const columns = structFields(options.schema, "Csv.write").map((field) => String(field.name))
  const encode = encodeWith(options.schema)
  const delimiter = options.delimiter ?? ","
  return textSink<A>("csv", {
    name: options.name ?? "CsvWrite",
    params: { dir, format: "csv", columns, delimiter },
    pathOf,
    encode: (items, first, file) => {
      const rows: Array<I> = []
      for (let i = 0; i < items.length; i++) {
        const encoded = encode(items[i]!)
        if (Either.isLeft(encoded)) return Either.left(unencodable("csv", file, `item ${first + i}`, encoded.left))
        rows.push(encoded.right)
      }
      // The header goes with the first chunk only.
      return Either.right(stringify(rows, { header: first === 0, columns, delimiter }))
    }
  })
}
