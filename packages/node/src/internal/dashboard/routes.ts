/**
 * The dashboard's HTTP routes: the page's files, the JSON API over one
 * checkpoint, and the live feed (server-sent events). Bad parameters are
 * answered with 400 and a message; a failure of the server is logged and
 * answered with 500 and a JSON message; nothing here writes to the database.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Cause, Chunk, type Duration, Effect, Option, Schedule, Stream } from "effect"
import type { Asset } from "./assets.js"
import * as Params from "./params.js"
import * as Views from "./views.js"

const json = (body: unknown, status = 200) => HttpServerResponse.unsafeJson(body, { status })

const asset = (file: Asset) =>
  HttpServerResponse.uint8Array(file.body, { contentType: file.contentType, headers: { "cache-control": "no-cache" } })

/** The largest page of indices and the most log lines one request returns. */
const maxPageSize = 500
const maxLogLines = 5000

/**
 * The server-sent events of a checkpoint: an `update` with the summary and
 * run figures whenever the change mark moves (on SQLite one pragma;
 * nothing else is read while the run stands still).
 */
const liveFeed = (views: Views.Views, pollInterval: Duration.DurationInput) =>
  Stream.repeatEffectWithSchedule(views.changes, Schedule.spaced(pollInterval)).pipe(
    Stream.changesWith((a, b) => a.mark === b.mark),
    Stream.map(({ update }) => `event: update\ndata: ${JSON.stringify(update)}\n\n`),
    // A failed read ends the feed with its reason; the browser reconnects by itself.
    Stream.catchAll((error) => Stream.make(`event: failure\ndata: ${JSON.stringify({ message: error.message })}\n\n`)),
    Stream.prepend(Chunk.of("retry: 2000\n\n")),
    Stream.encodeText
  )

/** The routes of a dashboard over a checkpoint's views. */
export const make = (
  views: Views.Views,
  assets: ReadonlyMap<`/${string}`, Asset>,
  pollInterval: Duration.DurationInput
) => {
  const query = HttpServerRequest.ParsedSearchParams
  let router = HttpRouter.empty
  for (const [url, file] of assets) router = HttpRouter.get(router, url, Effect.succeed(asset(file)))
  return router.pipe(
    HttpRouter.get("/api/overview", Effect.map(views.overview, (view) => json(view))),
    HttpRouter.get(
      "/api/indices",
      Effect.gen(function*() {
        const q = yield* query
        const page = yield* views.indices({
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
        const detail = yield* views.indexDetail(index)
        return Option.match(detail, {
          onNone: () => json({ error: `index ${index} is beyond the pipeline's last index` }, 404),
          onSome: (view) => json(view)
        })
      })
    ),
    HttpRouter.get("/api/performance", Effect.map(views.performance, (view) => json(view))),
    HttpRouter.get(
      "/api/logs",
      Effect.gen(function*() {
        const q = yield* query
        const lines = yield* views.logs({
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
      Effect.succeed(HttpServerResponse.stream(liveFeed(views, pollInterval), {
        contentType: "text/event-stream",
        headers: { "cache-control": "no-cache" }
      }))
    ),
    HttpRouter.catchTags({
      BadRequest: (error) => Effect.succeed(json({ error: error.message }, 400)),
      CheckpointError: (error) =>
        Effect.as(Effect.logError("dashboard: reading the checkpoint failed", error), json({ error: error.message }, 500))
    }),
    // A defect (a bug, a value the code did not expect) is logged with its cause and answered
    // with a JSON body, never an empty 500.
    HttpRouter.catchAllCause((cause) =>
      Effect.as(
        Effect.logError("dashboard: a request failed", cause),
        json({ error: `the dashboard failed to answer: ${Cause.pretty(cause).split("\n")[0]}; see the server's log` }, 500)
      )
    )
  )
}
