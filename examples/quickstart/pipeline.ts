/**
 * The quickstart pipeline: clean a small corpus of documents, one index per
 * document, and write one JSON file per kept document.
 *
 * Exported so that other tools (the worker-thread backend, the `curator`
 * command line) can load the very same pipeline from this module.
 */
import { Filter, Pipeline, Source } from "@curator/core"
import { FileSink } from "@curator/node"
import { Effect, Schema } from "effect"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { resolve } from "node:path"

/** A raw document as it appears in the bundled JSON Lines file. */
const RawDocument = Schema.Struct({
  id: Schema.String,
  title: Schema.String,
  lang: Schema.String,
  body: Schema.String
})
type RawDocument = typeof RawDocument.Type

/** A cleaned document, as written to the output files. */
export interface CleanDocument {
  readonly id: string
  readonly title: string
  readonly lang: string
  readonly body: string
  readonly words: number
}

const dataFile = fileURLToPath(new URL("./data/documents.jsonl", import.meta.url))

/** Every line of the corpus, decoded once when the module loads. */
const documents: ReadonlyArray<RawDocument> = readFileSync(dataFile, "utf8")
  .split("\n")
  .filter((line) => line.trim().length > 0)
  .map((line) => Schema.decodeUnknownSync(Schema.parseJson(RawDocument))(line))

const corpus = Source.make({
  name: "JsonlDocuments",
  params: { file: "data/documents.jsonl", documents: documents.length },
  length: documents.length,
  items: (index) => Effect.succeed([documents[index]!])
})

const dropEmpty = Filter.keep({
  name: "DropEmpty",
  predicate: (doc: RawDocument) => doc.body.trim().length > 0
})

const collapse = (text: string) => text.trim().replace(/\s+/g, " ")

/**
 * Cleans a kept document and logs one line about it: with metrics on, every
 * Effect log call inside a stage lands in the checkpoint's `logs` table,
 * under the stage's name, with the index and the worker.
 */
const normalise = Filter.mapEffect({
  name: "Normalise",
  params: { whitespace: "collapse", lang: "lowercase" },
  f: (doc: RawDocument) => {
    const body = collapse(doc.body)
    const clean: CleanDocument = {
      id: doc.id,
      title: collapse(doc.title),
      lang: doc.lang.toLowerCase(),
      body,
      words: body.split(" ").length
    }
    return Effect.as(Effect.logInfo(`normalised ${clean.id}: ${clean.words} words`), clean)
  }
})

/** Where the cleaned documents go: `./.curator-example/output` under the working directory. */
export const outputDir = resolve(".curator-example", "output")

export const pipeline = Pipeline.from(corpus).pipe(
  Pipeline.filter(dropEmpty),
  Pipeline.filter(normalise),
  Pipeline.write(FileSink.json<CleanDocument>({ dir: outputDir, fileName: (index) => `${documents[index]!.id}.json` })),
  Pipeline.withOptions({ resume: true })
)
