/**
 * Per-document cleaning plus corpus statistics in one pass: every document
 * of the quickstart corpus is cleaned and written to its own JSON file, and
 * a stateful filter keeps, per worker lane, the document count, a histogram
 * of word lengths and the count of each language. Each lane flushes its
 * state to a shard after every document; gathering merges the shards into
 * one `stats.json`.
 *
 * Exported so that the worker-thread backend and `curator run` / `curator
 * gather` can load the very same pipeline from this module.
 */
import { Filter, type Gather, Pipeline, Source } from "@curator/core"
import { FileSink } from "@curator/node"
import { Effect, Schema } from "effect"
import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"

const RawDocument = Schema.Struct({ id: Schema.String, title: Schema.String, lang: Schema.String, body: Schema.String })
type RawDocument = typeof RawDocument.Type

export interface CleanDocument {
  readonly id: string
  readonly lang: string
  readonly body: string
  readonly words: ReadonlyArray<string>
}

const dataFile = fileURLToPath(new URL("../quickstart/data/documents.jsonl", import.meta.url))
const documents: ReadonlyArray<RawDocument> = readFileSync(dataFile, "utf8")
  .split("\n")
  .filter((line) => line.trim().length > 0)
  .map((line) => Schema.decodeUnknownSync(Schema.parseJson(RawDocument))(line))

/** Where everything goes: `./.curator-example/dataset-stats` under the working directory. */
export const outDir = resolve(".curator-example", "dataset-stats")

const corpus = Source.make({
  name: "JsonlDocuments",
  params: { file: "quickstart/data/documents.jsonl", documents: documents.length },
  length: documents.length,
  items: (index) => Effect.succeed([documents[index]!])
})

const clean = Filter.map({
  name: "Clean",
  params: { whitespace: "collapse", lang: "lowercase", punctuation: "strip" },
  f: (doc: RawDocument): CleanDocument => {
    const body = doc.body.trim().replace(/\s+/g, " ")
    return {
      id: doc.id,
      lang: doc.lang.toLowerCase(),
      body,
      words: body.split(" ").map((w) => w.replace(/[^\p{L}\p{N}]/gu, "")).filter((w) => w.length > 0)
    }
  }
})

/** The corpus statistics: what each shard holds, and what `stats.json` holds once gathered. */
export const CorpusStats = Schema.Struct({
  documents: Schema.Number,
  words: Schema.Number,
  /** Word length → how many words have it. */
  wordLengths: Schema.Record({ key: Schema.String, value: Schema.Number }),
  /** Language → how many documents. */
  languages: Schema.Record({ key: Schema.String, value: Schema.Number })
})
export type CorpusStats = typeof CorpusStats.Type

const bump = (counts: Readonly<Record<string, number>>, key: string, by = 1) => ({ ...counts, [key]: (counts[key] ?? 0) + by })
const sum = (a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>) =>
  Object.entries(b).reduce((acc, [key, value]) => bump(acc, key, value), a)

export const stats = Filter.stateful({
  name: "CorpusStats",
  path: resolve(outDir, "stats.json"),
  state: CorpusStats,
  initial: { documents: 0, words: 0, wordLengths: {}, languages: {} },
  step: (s, doc: CleanDocument): CorpusStats => ({
    documents: s.documents + 1,
    words: s.words + doc.words.length,
    wordLengths: doc.words.reduce((acc, word) => bump(acc, String(word.length)), s.wordLengths),
    languages: bump(s.languages, doc.lang)
  }),
  merge: (a, b) => ({
    documents: a.documents + b.documents,
    words: a.words + b.words,
    wordLengths: sum(a.wordLengths, b.wordLengths),
    languages: sum(a.languages, b.languages)
  })
})

// `Gather` names the stateful filter's error type in the pipeline's type.
export const pipeline: Pipeline.Pipeline<Gather.ShardError | FileSink.FileSinkError, never> = Pipeline.from(corpus).pipe(
  Pipeline.filter(Filter.keep({ name: "DropEmpty", predicate: (doc: RawDocument) => doc.body.trim().length > 0 })),
  Pipeline.filter(clean),
  Pipeline.filter(stats),
  Pipeline.write(FileSink.json<CleanDocument>({ dir: resolve(outDir, "documents"), fileName: (index) => `${documents[index]!.id}.json` })),
  Pipeline.withOptions({ resume: true })
)
