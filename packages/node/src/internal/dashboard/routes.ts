/**
 * The dashboard's HTTP routes: the page's files, the JSON API over one
 * checkpoint, and the live feed (server-sent events). Bad parameters are
 * answered with 400 and a message; nothing here writes to the database.
 */
import type { CheckpointStore } from "@curator/core"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Chunk, type Duration, Effect, Option, Schedule, Stream } from "effect"
import type { Asset } from "./assets.js"
import * as Params from "./params.js"
import * as Views from "./views.js"

const json = (body: unknown, status = 200) => HttpServerResponse.unsafeJson(body, { status })

const asset = (file: Asset) =>
  HttpServerResponse.uint8Array(file.body, { contentType: file.contentType, headers: { "cache-control": "no-cache" } })

/** The largest page of indices and the most log lines one request returns. */
const maxPageSize = 500
const maxLogLines = 5000

/** The server-sent events of a checkpoint: an `update` with the summary whenever the run changes something. */
const liveFeed = (checkpoint: CheckpointStore.Checkpoint, pollInterval: Duration.DurationInput) =>
  Stream.unfoldEffect(0, (lastLogId) =>
    Effect.map(Views.changeMark(checkpoint, lastLogId), (mark) => Option.some([mark, mark.lastLogId] as const))).pipe(
      Stream.schedule(Schedule.spaced(pollInterval)),
      Stream.changesWith((a, b) => JSON.stringify(a) === JSON.stringify(b)),
      Stream.map((mark) => `event: update\ndata: ${JSON.stringify({ summary: mark.summary, lastLogId: mark.lastLogId })}\n\n`),
      // A failed read ends the feed with its reason; the browser reconnects by itself.
      Stream.catchAll((error) => Stream.make(`event: failure\ndata: ${JSON.stringify({ message: error.message })}\n\n`)),
      Stream.prepend(Chunk.of("retry: 2000\n\n")),
      Stream.encodeText
    )

/** The routes of a dashboard over `checkpoint`. */
export const make = (
  checkpoint: CheckpointStore.Checkpoint,
  assets: ReadonlyMap<`/${string}`, Asset>,
  pollInterval: Duration.DurationInput
) => {
  const query = HttpServerRequest.ParsedSearchParams
  let router = HttpRouter.empty
  for (const [url, file] of assets) router = HttpRouter.get(router, url, Effect.succeed(asset(file)))
  return router.pipe(
    HttpRouter.get("/api/overview", Effect.map(Views.overview(checkpoint), (view) => json(view))),
    HttpRouter.get(
      "/api/indices",
      Effect.gen(function*() {
        const q = yield* query
        const page = yield* Views.indices(checkpoint, {
          selection: yield* Params.selection(q),
          status: yield* Params.status(q),
          page: (yield* Params.integer(q, "page", { min: 1 })) ?? 1,
          pageSize: (yield* Params.integer(q, "pageSize", { min: 1, max: maxPageSize })) ?? 50
        })
        return json(page)
      })
    ),
    HttpRouter.get(
      "/api/index/:index",
      Effect.gen(function*() {
        const index = yield* Params.index((yield* HttpRouter.params).index ?? "")
        const detail = yield* Views.indexDetail(checkpoint, index)
        return Option.match(detail, {
          onNone: () => json({ error: `index ${index} is beyond the pipeline's last index` }, 404),
          onSome: (view) => json(view)
        })
      })
    ),
    HttpRouter.get("/api/performance", Effect.map(Views.performance(checkpoint), (view) => json(view))),
    HttpRouter.get(
      "/api/logs",
      Effect.gen(function*() {
        const q = yield* query
        const lines = yield* Views.logs(checkpoint, {
          minLevel: yield* Params.level(q),
          worker: yield* Params.worker(q),
          index: yield* Params.integer(q, "index", { min: 0 }),
          sinceId: yield* Params.integer(q, "sinceId", { min: 0 }),
          limit: (yield* Params.integer(q, "limit", { min: 1, max: maxLogLines })) ?? 500
        })
        return json(lines)
      })
    ),
    HttpRouter.get(
      "/api/events",
      Effect.succeed(HttpServerResponse.stream(liveFeed(checkpoint, pollInterval), {
        contentType: "text/event-stream",
        headers: { "cache-control": "no-cache" }
      }))
    ),
    HttpRouter.catchTags({
      BadRequest: (error) => Effect.succeed(json({ error: error.message }, 400)),
      CheckpointError: (error) => Effect.succeed(json({ error: error.message }, 500))
    })
  )
}
