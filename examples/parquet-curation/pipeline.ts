/**
 * The Parquet curation pipeline: one index per row group of an input file,
 * rows kept when they are English and long enough, their text normalised,
 * written as one Parquet shard per row group.
 */
import { Filter, Pipeline } from "@curator/core"
import { type FormatError, Parquet } from "@curator/formats"
import { Schema } from "effect"

export const Document = Schema.Struct({
  id: Schema.Int,
  lang: Schema.String,
  text: Schema.String,
  score: Schema.Number
})
export type Document = typeof Document.Type

/** The rows the curation keeps. */
export const keeps = (row: Document): boolean => row.lang === "en" && row.text.trim().length >= 20 && row.score >= 0.2

/** Collapses whitespace and lower-cases. */
export const normalise = (text: string): string => text.replace(/\s+/g, " ").trim().toLowerCase()

export const makePipeline = (input: string, outputDir: string): Pipeline.Pipeline<FormatError.FormatError> =>
  Pipeline.from(Parquet.rowGroups(input, { schema: Document })).pipe(
    Pipeline.filter(Filter.keep({ name: "EnglishAndLongEnough", params: { minLength: 20, minScore: 0.2 }, predicate: keeps })),
    Pipeline.filter(Filter.map({ name: "Normalise", f: (row: Document) => ({ ...row, text: normalise(row.text) }) })),
    Pipeline.write(Parquet.write({ dir: outputDir, schema: Document, codec: "GZIP", fileName: (index) => `shard-${String(index).padStart(5, "0")}.parquet` })),
    Pipeline.withOptions({ resume: true })
  )
