/**
 * JSON Lines: one JSON value per line. The reader streams a file line by
 * line (bounded memory), parses each line with `JSON.parse` and decodes it
 * with a Schema; a bad line fails the index naming the file and line. The
 * sink writes one file per index, atomically.
 */
import type { Sink } from "@curator/core"
import { Chunk, Effect, Either, Schema, Stream } from "effect"
import { makeReader, type Reader } from "./FileSource.js"
import { describe, FormatError } from "./FormatError.js"
import { decodeWith, encodeWith, type FileOptions, mismatch, placement, readChunks, schemaParams, textSink, unencodable } from "./internal/files.js"

/**
 * Reads a JSON Lines file as a stream of values decoded by `schema` (blank
 * lines are skipped; line numbers count from 1).
 *
 * @example
 * const rows = FileSource.glob("*.jsonl", { root: "/data", read: JsonLines.read(Row) })
 */
export const read = <A, I>(schema: Schema.Schema<A, I>): Reader<A> => {
  const decode = decodeWith(schema)
  return makeReader({ format: "jsonl", ...schemaParams(schema) }, (file) =>
    Stream.suspend(() => {
      let line = 0
      // The end of the last chunk, until the newline that completes it arrives. (Splitting
      // here rather than with Stream.splitLines, which scans character by character and
      // took three times as long as the rest of the reader.)
      let partial = ""
      const decodeLines = (lines: ReadonlyArray<string>) => {
        const values: Array<A> = []
        for (const text of lines) {
          line += 1
          if (text.trim().length === 0) continue
          let json: unknown
          try {
            json = JSON.parse(text)
          } catch (cause) {
            return Effect.fail(new FormatError({ format: "jsonl", path: file, position: `line ${line}`, reason: `not JSON: ${describe(cause)}` }))
          }
          const decoded = decode(json)
          if (Either.isLeft(decoded)) return Effect.fail(mismatch("jsonl", file, `line ${line}`, decoded.left))
          values.push(decoded.right)
        }
        return Effect.succeed(Chunk.unsafeFromArray(values))
      }
      return readChunks("jsonl", file).pipe(
        Stream.decodeText(),
        Stream.mapChunksEffect((texts) => {
          const lines = (partial + Chunk.join(texts, "")).split("\n")
          partial = lines.pop()!
          return decodeLines(lines)
        }),
        // The last line, when the file does not end with a newline.
        Stream.concat(Stream.suspend(() => Stream.flattenChunks(Stream.fromEffect(decodeLines(partial.length > 0 ? [partial] : [])))))
      )
    }))
}

/** Options of the JSON Lines sink. */
export interface WriteOptions<A, I> extends FileOptions {
  /** Encodes each item before it is written (default: items are written as they are). */
  readonly schema?: Schema.Schema<A, I> | undefined
}

/**
 * One JSON Lines file per index (`000042.jsonl`), written atomically; an
 * index whose items were all dropped writes none.
 */
export const write = <A, I = A>(options: WriteOptions<A, I>): Sink.Sink<A, FormatError> => {
  const { dir, pathOf } = placement(options, ".jsonl")
  const encode = options.schema === undefined ? undefined : encodeWith(options.schema)
  return textSink<A>("jsonl", {
    name: options.name ?? "JsonLinesWrite",
    params: { dir, format: "jsonl" },
    pathOf,
    encode: (items, first, file) => {
      // Lines joined once: appending each to one string builds a rope whose
      // flattening, at the write, took as long as the encoding itself.
      const lines = new Array<string>(items.length + 1)
      for (let i = 0; i < items.length; i++) {
        let value: unknown = items[i]
        if (encode !== undefined) {
          const encoded = encode(items[i]!)
          if (Either.isLeft(encoded)) return Either.left(unencodable("jsonl", file, `item ${first + i}`, encoded.left))
          value = encoded.right
        }
        lines[i] = JSON.stringify(value)
      }
      lines[items.length] = ""
      return Either.right(lines.join("\n"))
    }
  })
}
