/**
 * Parquet, read with `hyparquet` (+ `hyparquet-compressors` for GZIP,
 * ZSTD, BROTLI, LZ4) and written with `hyparquet-writer`.
 *
 * Why these libraries: they are pure JavaScript with no native or WASM
 * binary, so they install anywhere Node 20 runs and work in worker threads
 * unchanged; hyparquet reads a file by byte ranges, one row group and only
 * the selected columns at a time, which is what bounded memory and "one
 * index per row group" need. `parquet-wasm` reads from a whole-file buffer
 * (its streaming reader takes URLs only), and `@duckdb/node-api` is a
 * ~60 MB native engine: used here only as an independent reader in tests.
 */
import { Sink, Source } from "@curator/core"
import { Chunk, Effect, Either, ParseResult, Schema, SchemaAST, Stream } from "effect"
import { asyncBufferFromFile, type AsyncBuffer, type FileMetaData, parquetMetadataAsync, parquetReadObjects } from "hyparquet"
import { compressors as decompressors } from "hyparquet-compressors"
import { type BasicType, ByteWriter, type ColumnSource, ParquetWriter, schemaFromColumnData } from "hyparquet-writer"
import * as zlib from "node:zlib"
import { fingerprintOf, makeReader, type Reader } from "./FileSource.js"
import { describe, FormatError } from "./FormatError.js"
import { decodeWith, type FileOptions, mismatch, placement, schemaParams, structFields, writeAtomic } from "./internal/files.js"
import * as path from "node:path"

/** Options of the Parquet reader. */
export interface ReadOptions<A, I> {
  /** The columns to read (default all); the others are never fetched from disk. */
  readonly columns?: ReadonlyArray<string> | undefined
  /** Decodes each row (INT64 columns arrive as `bigint`); default: rows as the library returns them. */
  readonly schema?: Schema.Schema<A, I> | undefined
  /** Reads only row groups `start` (inclusive) to `end` (exclusive). */
  readonly rowGroups?: { readonly start: number; readonly end: number } | undefined
}

interface Opened {
  readonly buffer: AsyncBuffer
  readonly metadata: FileMetaData
}

const open = (file: string): Effect.Effect<Opened, FormatError> =>
  Effect.tryPromise({
    try: async () => {
      const buffer = await asyncBufferFromFile(file)
      return { buffer, metadata: await parquetMetadataAsync(buffer) }
    },
    catch: (cause) =>
      new FormatError({ format: "parquet", path: file, position: "footer", reason: `not a readable Parquet file: ${describe(cause)}` })
  })

/** The number of row groups of a Parquet file (reads its footer only). */
export const rowGroupCount = (file: string): Effect.Effect<number, FormatError> =>
  Effect.map(open(file), ({ metadata }) => metadata.row_groups.length)

/**
 * Reads a Parquet file as a stream of row objects, one row group in memory
 * at a time.
 *
 * @example
 * const rows = FileSource.glob("*.parquet", { root: "/data", read: Parquet.read({ columns: ["id", "text"] }) })
 */
export const read = <A = Record<string, unknown>, I = A>(options: ReadOptions<A, I> = {}): Reader<A> => {
  const decode = options.schema === undefined ? undefined : decodeWith(options.schema)
  const columns = options.columns === undefined ? undefined : [...options.columns]
  const params = {
    format: "parquet",
    ...(columns === undefined ? {} : { columns }),
    ...(options.rowGroups === undefined ? {} : { rowGroups: [options.rowGroups.start, options.rowGroups.end] }),
    ...schemaParams(options.schema)
  }
  return makeReader(params, (file) =>
    Stream.unwrap(Effect.map(open(file), ({ buffer, metadata }) => {
      const groups = metadata.row_groups
      const start = Math.max(0, options.rowGroups?.start ?? 0)
      const end = Math.min(groups.length, options.rowGroups?.end ?? groups.length)
      // The first row of each group: hyparquet addresses rows, not groups.
      const firstRows: Array<number> = [0]
      for (const group of groups) firstRows.push(firstRows[firstRows.length - 1]! + Number(group.num_rows))
      const readGroup = (g: number) =>
        Effect.tryPromise({
          try: () =>
            parquetReadObjects({
              file: buffer,
              metadata,
              rowStart: firstRows[g]!,
              rowEnd: firstRows[g + 1]!,
              compressors: decompressors,
              ...(columns === undefined ? {} : { columns })
            }),
          catch: (cause) =>
            new FormatError({ format: "parquet", path: file, position: `row group ${g}`, reason: `cannot decode: ${describe(cause)}` })
        }).pipe(Effect.flatMap((rows) => {
          if (decode === undefined) return Effect.succeed(rows as unknown as Array<A>)
          const decoded: Array<A> = []
          for (let r = 0; r < rows.length; r++) {
            const row = decode(rows[r])
            if (Either.isLeft(row)) return Effect.fail(mismatch("parquet", file, `row group ${g}, row ${r}`, row.left))
            decoded.push(row.right)
          }
          return Effect.succeed(decoded)
        }))
      const selected = Array.from({ length: Math.max(0, end - start) }, (_, i) => start + i)
      return Stream.fromIterable(selected).pipe(
        Stream.mapEffect(readGroup),
        Stream.mapConcatChunk((rows) => Chunk.unsafeFromArray(rows))
      )
    })))
}

/**
 * One index per row group of one Parquet file, so a single big file is
 * many resumable indices. The footer is read once per source value.
 *
 * @example
 * const source = Parquet.rowGroups("/data/big.parquet", { columns: ["text"] })
 */
export const rowGroups = <A = Record<string, unknown>, I = A>(
  file: string,
  options: Omit<ReadOptions<A, I>, "rowGroups"> & { readonly name?: string | undefined } = {}
): Source.Source<A, FormatError> & { readonly fingerprint: (index: number) => Effect.Effect<string, FormatError> } => {
  const absolute = path.resolve(file)
  const count = Effect.runSync(Effect.cached(rowGroupCount(absolute)))
  const source = Source.make({
    name: options.name ?? "ParquetRowGroups",
    params: { file: absolute, ...(options.columns === undefined ? {} : { columns: [...options.columns] }), ...schemaParams(options.schema) },
    length: count,
    read: (index: number) => read<A, I>({ ...options, rowGroups: { start: index, end: index + 1 } })(absolute)
  })
  return {
    ...source,
    /** The file's fingerprint (name, size, mtime) and the row group. */
    fingerprint: (index: number) =>
      Effect.map(fingerprintOf(path.dirname(absolute), absolute), (file) => `${file}#${index}`)
  }
}

/** The compressions the sink can write. */
export type Codec = "UNCOMPRESSED" | "SNAPPY" | "GZIP" | "BROTLI"

// hyparquet-writer ships SNAPPY; GZIP and BROTLI come from node:zlib.
const compressors = {
  GZIP: (input: Uint8Array) => new Uint8Array(zlib.gzipSync(input)),
  BROTLI: (input: Uint8Array) => new Uint8Array(zlib.brotliCompressSync(input))
}

/** Options of the Parquet sink. */
export interface WriteOptions<A, I> extends FileOptions {
  /** The rows' schema: a struct whose fields become the columns (see `columnsOf`). */
  readonly schema: Schema.Schema<A, I>
  /** The compression (default "SNAPPY"). */
  readonly codec?: Codec | undefined
  /** Rows per row group (default 100,000); the sink holds one group of rows at a time. */
  readonly rowGroupSize?: number | undefined
  /**
   * Splits an index's rows into shards of at most this many rows, one file
   * each (`000042-00000.parquet`, `000042-00001.parquet`, ...); default: one
   * file per index.
   */
  readonly rowsPerFile?: number | undefined
}

/** A column of the Parquet schema derived from a Schema struct. */
export interface Column {
  readonly name: string
  readonly type: BasicType
  readonly nullable: boolean
}

/**
 * The Parquet columns of a Schema struct, from the types of its fields:
 * string → STRING, number → DOUBLE, `Schema.Int` → INT32, bigint → INT64,
 * boolean → BOOLEAN, `Schema.DateFromSelf` → TIMESTAMP, `Schema.Uint8ArrayFromSelf`
 * → BYTE_ARRAY, anything else → JSON. Optional fields and unions with
 * null or undefined are nullable.
 */
export const columnsOf = (schema: Schema.Schema.Any): ReadonlyArray<Column> =>
  structFields(schema, "Parquet.write").map((signature) => {
    const members = SchemaAST.isUnion(signature.type) ? signature.type.types : [signature.type]
    const present = members.filter((member) => !SchemaAST.isUndefinedKeyword(member) && !(SchemaAST.isLiteral(member) && member.literal === null))
    const nullable = signature.isOptional || present.length < members.length
    return { name: String(signature.name), type: present.length === 1 ? basicType(present[0]!) : "JSON", nullable }
  })

const basicType = (ast: SchemaAST.AST): BasicType => {
  if (SchemaAST.isRefinement(ast)) {
    // Schema.Int is a refinement of number named "Int".
    const id = SchemaAST.getSchemaIdAnnotation(ast)
    if (id._tag === "Some" && id.value === Schema.IntSchemaId && SchemaAST.isNumberKeyword(ast.from)) return "INT32"
    return basicType(ast.from)
  }
  if (SchemaAST.isStringKeyword(ast)) return "STRING"
  if (SchemaAST.isNumberKeyword(ast)) return "DOUBLE"
  if (SchemaAST.isBigIntKeyword(ast)) return "INT64"
  if (SchemaAST.isBooleanKeyword(ast)) return "BOOLEAN"
  if (SchemaAST.isLiteral(ast)) {
    return typeof ast.literal === "string" ? "STRING" : typeof ast.literal === "boolean" ? "BOOLEAN" : "JSON"
  }
  if (SchemaAST.isDeclaration(ast)) {
    const id = SchemaAST.getIdentifierAnnotation(ast)
    if (id._tag === "Some" && id.value === "DateFromSelf") return "TIMESTAMP"
    if (id._tag === "Some" && id.value === "Uint8ArrayFromSelf") return "BYTE_ARRAY"
  }
  return "JSON"
}

/**
 * One Parquet file per index (`000042.parquet`), or per shard of
 * `rowsPerFile` rows, its columns derived from `schema`, rows grouped into
 * row groups as they stream in, each file written atomically; an index
 * whose items were all dropped writes none.
 *
 * @example
 * const sink = Parquet.write({ dir: "/out", schema: Row, codec: "GZIP" })
 */
export const write = <A, I>(options: WriteOptions<A, I>): Sink.Sink<A, FormatError> => {
  const { dir, pathOf } = placement(options, ".parquet")
  const columns = columnsOf(options.schema)
  const codec = options.codec ?? "SNAPPY"
  const rowGroupSize = options.rowGroupSize ?? 100_000
  if (!Number.isSafeInteger(rowGroupSize) || rowGroupSize <= 0) {
    throw new TypeError(`Parquet.write: rowGroupSize must be a positive integer, got ${rowGroupSize}`)
  }
  const rowsPerFile = options.rowsPerFile
  if (rowsPerFile !== undefined && (!Number.isSafeInteger(rowsPerFile) || rowsPerFile <= 0)) {
    throw new TypeError(`Parquet.write: rowsPerFile must be a positive integer, got ${rowsPerFile}`)
  }
  const groupSize = Math.min(rowGroupSize, rowsPerFile ?? rowGroupSize)
  const validate = ParseResult.validateEither(Schema.typeSchema(options.schema))
  const parquetSchema = schemaFromColumnData({
    columnData: columns.map(({ name, nullable, type }) => ({ name, type, nullable, data: [] }))
  })
  return Sink.make<A, FormatError>({
    name: options.name ?? "ParquetWrite",
    params: {
      dir,
      format: "parquet",
      columns: columns.map((c) => `${c.name}:${c.type}${c.nullable ? "?" : ""}`),
      codec,
      rowGroupSize,
      ...(rowsPerFile === undefined ? {} : { rowsPerFile })
    },
    write: (items, index) =>
      Effect.gen(function* () {
        const written: Array<string> = []
        // The file being filled: its path, encoder and rows so far (one at a time).
        let current: { readonly file: string; readonly writer: ByteWriter; readonly parquet: ParquetWriter; rows: number } | undefined
        let rows = 0
        const failure = (file: string, position: string | undefined, cause: unknown) =>
          new FormatError({ format: "parquet", path: file, position, reason: `cannot encode: ${describe(cause)}; check that the rows match the schema` })
        // Only when the encoder refused a group: find the first row the schema refuses, to name it.
        const blame = (file: string, group: ReadonlyArray<A>, first: number) => {
          for (let r = 0; r < group.length; r++) {
            const checked = validate(group[r])
            if (Either.isLeft(checked)) {
              const reason = `does not match the schema: ${ParseResult.TreeFormatter.formatIssueSync(checked.left)}`
              return new FormatError({ format: "parquet", path: file, position: `row ${first + r}`, reason })
            }
          }
          return undefined
        }
        const startFile = () => {
          const file = rowsPerFile === undefined ? pathOf(index) : withShard(pathOf(index), written.length)
          const writer = new ByteWriter()
          return { file, writer, parquet: new ParquetWriter({ writer, schema: parquetSchema, codec, compressors }), rows: 0 }
        }
        const finishFile = Effect.suspend(() => {
          const done = current
          if (done === undefined) return Effect.void
          current = undefined
          return Effect.try({ try: () => done.parquet.finish(), catch: (cause) => failure(done.file, "footer", cause) }).pipe(
            Effect.zipRight(Effect.suspend(() => writeAtomic("parquet", done.file, done.writer.getBytes()))),
            Effect.map((paths) => void written.push(...paths))
          )
        })
        const writeGroup = (group: ReadonlyArray<A>) =>
          Effect.suspend(() => {
            const target = current ??= startFile()
            return Effect.try({
              try: () => {
                const columnData: Array<ColumnSource> = columns.map(({ name, nullable, type }) => ({
                  name,
                  type,
                  nullable,
                  data: group.map((row) => (row as Record<string, unknown>)[name] ?? null)
                }))
                void target.parquet.write({ columnData, rowGroupSize })
                target.rows += group.length
                rows += group.length
              },
              catch: (cause) => blame(target.file, group, rows) ?? failure(target.file, `rows ${rows} to ${rows + group.length - 1}`, cause)
            }).pipe(Effect.zipRight(Effect.suspend(() => (rowsPerFile !== undefined && target.rows >= rowsPerFile ? finishFile : Effect.void))))
          })
        yield* Stream.runForEach(Stream.grouped(items, groupSize), (chunk) =>
          Effect.suspend(() => {
            // A group never straddles two files: split it where the current file is full.
            let group = Chunk.toReadonlyArray(chunk)
            const parts: Array<ReadonlyArray<A>> = []
            let room = rowsPerFile === undefined ? group.length : rowsPerFile - (current?.rows ?? 0)
            while (group.length > room) {
              parts.push(group.slice(0, room))
              group = group.slice(room)
              room = rowsPerFile!
            }
            parts.push(group)
            return Effect.forEach(parts, writeGroup, { discard: true })
          }))
        yield* finishFile
        return written
      })
  })
}

/** `dir/000042.parquet` → `dir/000042-00003.parquet`. */
const withShard = (file: string, shard: number) => {
  const extension = path.extname(file)
  return `${file.slice(0, file.length - extension.length)}-${String(shard).padStart(5, "0")}${extension}`
}
